"""The only place that starts processes for backups: restic, pg_dump, pg_restore, hooks.

Secrets reach a child only through its environment or a file named there, never argv;
everything we log or put in an exception passes the Masker first. Output is read by
threads so that a chatty stderr can never block a child writing to a full pipe.

Every child leads a process group of its own, so that a time limit (or our own end by
Ctrl-C) stops what it started too: a hook's `sleep`, restic's ssh. Stopping is SIGINT
first, because restic 0.14 removes its repository lock only on SIGINT, then SIGKILL for
whatever is left of the group after a short grace.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from backups import digests
from orchestrator.masking import Masker

log = logging.getLogger("dr.backups")

__all__ = ["Masker", "Runner", "child_environment", "hook_environment"]

JsonCallback = Callable[[dict[str, Any]], object]
_CHUNK = 1 << 20
_STDERR_LIMIT = 64 * 1024
# How long a child interrupted by SIGINT may take to clean up (restic: its lock).
STOP_GRACE_S = 5.0


@dataclass
class Completed:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    # Stopped by us at its time limit (`timeout`); the exit code is then the signal's.
    timed_out: bool = False
    timeout: float | None = None
    pid: int | None = None


@dataclass
class PipelineResult:
    producer: Completed
    consumer: Completed
    bytes: int
    digest: str  # of every byte that passed, by the pipeline's `hash_algorithm`
    head: builtins.bytes = field(default=b"")
    # We killed the producer because the consumer stopped reading (e.g. restic could
    # not lock): its exit code then says nothing about the producer itself.
    producer_killed: bool = False

    @property
    def timed_out(self) -> bool:
        return self.consumer.timed_out


# What a child may take from our environment: where programs and home are, language,
# time zone, temporary and cache directories, trusted CAs and proxies. Nothing else:
# our environment holds every secret of the inventory (env: references) and a child
# gets only those it needs, in `extra`.
_INHERITED = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "XDG_CACHE_HOME"}
    | {"SSL_CERT_FILE", "SSL_CERT_DIR", "http_proxy", "https_proxy", "no_proxy"}
    | {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}
)


def child_environment(extra: dict[str, str], drop_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """The few harmless variables of ours (`_INHERITED`, LC_*) plus `extra`: no secret
    reaches a child unless given here. `drop_prefixes` names variables that would steer
    the child (RESTIC_*, AWS_*, PG*), kept out even if a future list inherited them."""
    env = {
        k: v
        for k, v in os.environ.items()
        if (k in _INHERITED or k.startswith("LC_")) and not k.startswith(drop_prefixes)
    }
    env.update(extra)
    return env


def hook_environment(extra: dict[str, str], secret_names: Iterable[str]) -> dict[str, str]:
    """A hook's environment: ours (a hook is the inventory author's own command and may
    need it) minus every variable the inventory names as a secret, plus `extra`."""
    hidden = set(secret_names)
    env = {k: v for k, v in os.environ.items() if k not in hidden}
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
        timeout: float | None = None,
    ) -> Completed:
        """Run to the end. With `on_json`, each stdout line that is a JSON object goes to
        it as it arrives (restic's status lines), and stdout keeps only the other lines."""
        running = self.start(
            argv, env, on_json=on_json, stdin=input_bytes is not None, timeout=timeout
        )
        return running.finish(input_bytes)

    def start(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        on_json: JsonCallback | None = None,
        stdin: bool = False,
        timeout: float | None = None,
    ) -> Running:
        """Start a child and return at once; `finish()` (feeding stdin) or `stop()` it."""
        log.debug("running %s", self.mask(shlex.join(argv)))
        return Running(self, argv, self._start(argv, env, stdin), on_json, timeout)

    def pipeline(
        self,
        producer: tuple[list[str], dict[str, str]],
        consumer: tuple[list[str], dict[str, str]],
        *,
        on_json: JsonCallback | None = None,
        timeout: float | None = None,
        drain: bool = False,
        hash_algorithm: str = digests.CURRENT,
    ) -> PipelineResult:
        """producer | consumer, with the bytes passing through us so that we count and
        hash them (with `hash_algorithm`, see `backups.digests`). Both exit codes are
        returned: a producer that dies half-way leaves a consumer that saw a clean end of
        input and exits 0. `timeout` limits the whole pipeline; at it both process groups
        are stopped.

        A consumer may stop reading early. By default the producer is then stopped (a
        restic that could not lock must not leave pg_dump writing a whole dump for
        nobody). With `drain`, we read the producer to its end instead and hash all of
        it: a consumer that needs only the head (pg_restore --list reads just the table
        of contents) must not leave a checksum of part of the stream."""
        (p_argv, p_env), (c_argv, c_env) = producer, consumer
        log.debug("running %s | %s", self.mask(shlex.join(p_argv)), self.mask(shlex.join(c_argv)))
        started = time.monotonic()
        prod = self._start(p_argv, p_env)
        try:
            cons = self._start(c_argv, c_env, stdin=True)
        except BaseException:
            stop_group(prod)
            raise
        deadline = _Deadline([prod, cons], timeout)
        try:
            p_err, c_err = _Collector(prod.stderr), _Collector(cons.stderr)
            pump = _Pump(prod.stdout, cons.stdin, digests.new_hasher(hash_algorithm), drain=drain)
            pump.start()
            lines: list[str] = []
            assert cons.stdout is not None
            for raw in cons.stdout:
                _dispatch(raw.decode("utf-8", "replace"), on_json, lines)
            c_code = cons.wait()
            pump.join()
            killed = pump.consumer_gone and not drain and prod.poll() is None
            if killed:
                # The consumer quit early; the producer would block on a full pipe forever.
                stop_group(prod)
            p_code = prod.wait()
        except BaseException:
            deadline.stop_now()
            raise
        finally:
            deadline.cancel()
        return PipelineResult(
            producer=self._completed(
                p_argv,
                p_code,
                "",
                p_err,
                started,
                pid=prod.pid,
                timed_out=deadline.fired,
                timeout=timeout,
            ),
            consumer=self._completed(
                c_argv,
                c_code,
                "".join(lines),
                c_err,
                started,
                pid=cons.pid,
                timed_out=deadline.fired,
                timeout=timeout,
            ),
            bytes=pump.count,
            digest=pump.hasher.hexdigest(),
            head=pump.head,
            producer_killed=killed and not deadline.fired,
        )

    def shell(
        self, command: str, env: dict[str, str], *, timeout: float | None = None
    ) -> Completed:
        """A hook: one command line of the inventory, run by /bin/sh."""
        return self.run(["/bin/sh", "-c", command], env, timeout=timeout)

    def _start(
        self, argv: list[str], env: dict[str, str], stdin: bool = False
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own process group: see the module's docstring.
            process_group=0,
        )

    def _completed(
        self,
        argv: list[str],
        exit_code: int,
        stdout: str,
        stderr: _Collector,
        started: float,
        *,
        timed_out: bool = False,
        timeout: float | None = None,
        pid: int | None = None,
    ) -> Completed:
        stderr.join()
        result = Completed(
            argv=[self.mask(a) for a in argv],
            exit_code=exit_code,
            stdout=self.mask(stdout),
            stderr=self.mask(stderr.text()),
            seconds=time.monotonic() - started,
            timed_out=timed_out,
            timeout=timeout,
            pid=pid,
        )
        if timed_out:
            log.warning("%s stopped at its time limit of %ss", result.argv[0], timeout)
        log.debug("%s exited %d after %.2fs", result.argv[0], exit_code, result.seconds)
        return result


class Running:
    """A started child: its output is read by threads while the caller does other work
    (e.g. restic opening the repository while another restic backs up the files)."""

    def __init__(
        self,
        runner: Runner,
        argv: list[str],
        process: subprocess.Popen[bytes],
        on_json: JsonCallback | None,
        timeout: float | None,
    ) -> None:
        self._runner, self._argv, self.process = runner, argv, process
        self._started = time.monotonic()
        self._timeout = timeout
        self._stderr = _Collector(process.stderr)
        self._lines: list[str] = []
        self._stdout = threading.Thread(target=self._read, args=(on_json,), daemon=True)
        self._stdout.start()
        self._deadline = _Deadline([process], timeout)

    def _read(self, on_json: JsonCallback | None) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            _dispatch(raw.decode("utf-8", "replace"), on_json, self._lines)

    def finish(self, input_bytes: bytes | None = None) -> Completed:
        """Write `input_bytes` to its stdin (if it has one), close it, wait for the end."""
        try:
            if self.process.stdin is not None:
                _feed(self.process.stdin, input_bytes or b"")
            self._stdout.join()
            exit_code = self.process.wait()
        except BaseException:
            self._deadline.stop_now()
            raise
        finally:
            self._deadline.cancel()
        return self._runner._completed(
            self._argv, exit_code, "".join(self._lines), self._stderr, self._started,
            timed_out=self._deadline.fired, timeout=self._timeout, pid=self.process.pid,
        )  # fmt: skip

    def stop(self) -> bool:
        """Interrupt it (and its group) because its work is no longer wanted. True if we
        interrupted it, now or at its time limit (so it may have stopped half-way)."""
        self._deadline.cancel()
        interrupted = self.process.poll() is None or self._deadline.fired
        stop_group(self.process)
        self._stdout.join()
        self._stderr.join()
        return interrupted


class _Deadline:
    """Stops the process groups of `processes` if they are still running at `timeout`."""

    def __init__(self, processes: list[subprocess.Popen[bytes]], timeout: float | None) -> None:
        self._processes = processes
        self.fired = False
        self._timer: threading.Timer | None = None
        if timeout is not None:
            self._timer = threading.Timer(timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        self.fired = True
        self.stop_now()

    def stop_now(self) -> None:
        for process in self._processes:
            stop_group(process)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def stop_group(process: subprocess.Popen[bytes], grace: float | None = None) -> None:
    """SIGINT to the child's process group; SIGKILL to what is left after `grace`
    (default STOP_GRACE_S)."""
    if process.poll() is not None and not _group_alive(process.pid):
        return
    _signal_group(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_S if grace is None else grace)
    # The leader may be gone while a child it started (a hook's `sleep`) lives on.
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


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
        stream = self._stream
        assert stream is not None
        for chunk in iter(lambda: stream.read(4096), b""):
            self._data += chunk
            if len(self._data) > _STDERR_LIMIT:
                del self._data[: len(self._data) - _STDERR_LIMIT]

    def text(self) -> str:
        return self._data.decode("utf-8", "replace")


class _Pump(threading.Thread):
    """Copies producer stdout to consumer stdin, counting and hashing what passes."""

    def __init__(
        self,
        source: IO[bytes] | None,
        sink: IO[bytes] | None,
        hasher: digests.Hasher,
        *,
        drain: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self._source, self._sink = source, sink
        self._drain = drain
        self.count = 0
        self.hasher = hasher
        self.head = b""
        self.consumer_gone = False

    def _write(self, sink: IO[bytes], chunk: bytes) -> None:
        try:
            sink.write(chunk)
        except BrokenPipeError:
            self.consumer_gone = True

    def run(self) -> None:
        source, sink = self._source, self._sink
        assert isinstance(source, io.BufferedReader) and sink is not None
        try:
            for chunk in iter(lambda: source.read1(_CHUNK), b""):
                if len(self.head) < 16:
                    self.head += chunk[: 16 - len(self.head)]
                self.count += len(chunk)
                self.hasher.update(chunk)
                if not self.consumer_gone:
                    self._write(sink, chunk)
                elif not self._drain:
                    break
        finally:
            try:
                sink.close()
            except BrokenPipeError:
                self.consumer_gone = True
