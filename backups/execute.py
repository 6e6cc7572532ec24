"""The only place that starts processes for backups: restic, pg_dump, pg_restore, hooks.

Secrets reach a child only through its environment or a file named there, never argv;
everything we log or put in an exception passes the Masker first. Output is read by
threads so that a chatty stderr can never block a child writing to a full pipe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

log = logging.getLogger("dr.backups")

JsonCallback = Callable[[dict[str, Any]], None]
_CHUNK = 1 << 20
_STDERR_LIMIT = 64 * 1024


class Masker:
    """Replaces every known secret value with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        # Very short values would mask ordinary words; no real password is that short.
        if len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


@dataclass
class Completed:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def display(self) -> str:
        return shlex.join(self.argv)


@dataclass
class PipelineResult:
    producer: Completed
    consumer: Completed
    bytes: int
    sha256: str
    head: bytes = field(default=b"")
    # We killed the producer because the consumer stopped reading (e.g. restic could
    # not lock): its exit code then says nothing about the producer itself.
    producer_killed: bool = False


def child_environment(extra: dict[str, str], drop_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """Our environment minus variables that would steer the child (RESTIC_*, AWS_*, PG*
    left over from the shell), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    env.update(extra)
    return env


class Runner:
    def __init__(self, masker: Masker) -> None:
        self.mask = masker

    def run(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        on_json: JsonCallback | None = None,
        input_bytes: bytes | None = None,
    ) -> Completed:
        """Run to the end. With `on_json`, each stdout line that is a JSON object goes to
        it as it arrives (restic's status lines), and stdout keeps only the other lines."""
        log.debug("running %s", self.mask(shlex.join(argv)))
        started = time.monotonic()
        process = self._start(argv, env, stdin=subprocess.PIPE if input_bytes else None)
        stderr = _Collector(process.stderr)
        stdout_lines: list[str] = []
        writer = None
        if input_bytes is not None:
            writer = threading.Thread(target=_feed, args=(process.stdin, input_bytes))
            writer.start()
        assert process.stdout is not None
        for raw in process.stdout:
            _dispatch(raw.decode("utf-8", "replace"), on_json, stdout_lines)
        if writer is not None:
            writer.join()
        exit_code = process.wait()
        return self._completed(argv, exit_code, "".join(stdout_lines), stderr, started)

    def pipeline(
        self,
        producer: tuple[list[str], dict[str, str]],
        consumer: tuple[list[str], dict[str, str]],
        *,
        on_json: JsonCallback | None = None,
    ) -> PipelineResult:
        """producer | consumer, with the bytes passing through us so that we count and
        hash them. Both exit codes are returned: a producer that dies half-way leaves a
        consumer that saw a clean end of input and exits 0."""
        (p_argv, p_env), (c_argv, c_env) = producer, consumer
        log.debug("running %s | %s", self.mask(shlex.join(p_argv)), self.mask(shlex.join(c_argv)))
        started = time.monotonic()
        prod = self._start(p_argv, p_env)
        try:
            cons = self._start(c_argv, c_env, stdin=subprocess.PIPE)
        except BaseException:
            prod.kill()
            prod.wait()
            raise
        p_err, c_err = _Collector(prod.stderr), _Collector(cons.stderr)
        pump = _Pump(prod.stdout, cons.stdin)
        pump.start()
        lines: list[str] = []
        assert cons.stdout is not None
        for raw in cons.stdout:
            _dispatch(raw.decode("utf-8", "replace"), on_json, lines)
        c_code = cons.wait()
        pump.join()
        killed = pump.consumer_gone and prod.poll() is None
        if killed:
            # The consumer quit early; the producer would block on a full pipe forever.
            prod.kill()
        p_code = prod.wait()
        return PipelineResult(
            producer=self._completed(p_argv, p_code, "", p_err, started),
            consumer=self._completed(c_argv, c_code, "".join(lines), c_err, started),
            bytes=pump.count,
            sha256=pump.digest.hexdigest(),
            head=pump.head,
            producer_killed=killed,
        )

    def shell(self, command: str, env: dict[str, str]) -> Completed:
        """A hook: one command line of the inventory, run by /bin/sh."""
        return self.run(["/bin/sh", "-c", command], env)

    def _start(
        self, argv: list[str], env: dict[str, str], stdin: int | None = None
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def _completed(
        self, argv: list[str], exit_code: int, stdout: str, stderr: _Collector, started: float
    ) -> Completed:
        stderr.join()
        result = Completed(
            argv=[self.mask(a) for a in argv],
            exit_code=exit_code,
            stdout=self.mask(stdout),
            stderr=self.mask(stderr.text()),
            seconds=time.monotonic() - started,
        )
        log.debug("%s exited %d after %.2fs", result.argv[0], exit_code, result.seconds)
        return result


def _dispatch(line: str, on_json: JsonCallback | None, others: list[str]) -> None:
    if on_json is not None and line.startswith("{"):
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            others.append(line)
            return
        if isinstance(message, dict):
            on_json(message)
            return
    others.append(line)


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    assert pipe is not None
    # The child may exit without reading everything (e.g. restic failing to lock).
    with contextlib.suppress(BrokenPipeError):
        pipe.write(data)
    with contextlib.suppress(BrokenPipeError):
        pipe.close()


class _Collector(threading.Thread):
    """Reads a stream to the end in the background, keeping the last 64 KiB."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._data = bytearray()
        self.start()

    def run(self) -> None:
        assert self._stream is not None
        for chunk in iter(lambda: self._stream.read(4096), b""):  # type: ignore[union-attr]
            self._data += chunk
            if len(self._data) > _STDERR_LIMIT:
                del self._data[: len(self._data) - _STDERR_LIMIT]

    def text(self) -> str:
        return self._data.decode("utf-8", "replace")


class _Pump(threading.Thread):
    """Copies producer stdout to consumer stdin, counting and hashing what passes."""

    def __init__(self, source: IO[bytes] | None, sink: IO[bytes] | None) -> None:
        super().__init__(daemon=True)
        self._source, self._sink = source, sink
        self.count = 0
        self.digest = hashlib.sha256()
        self.head = b""
        self.consumer_gone = False

    def run(self) -> None:
        assert self._source is not None and self._sink is not None
        try:
            for chunk in iter(lambda: self._source.read1(_CHUNK), b""):  # type: ignore[union-attr]
                if len(self.head) < 16:
                    self.head += chunk[: 16 - len(self.head)]
                self.count += len(chunk)
                self.digest.update(chunk)
                self._sink.write(chunk)
        except BrokenPipeError:
            self.consumer_gone = True
        finally:
            try:
                self._sink.close()
            except BrokenPipeError:
                self.consumer_gone = True
