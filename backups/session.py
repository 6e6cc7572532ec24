"""One repository opened with one restic: every restic command of an action goes here.

It joins the pieces: the command builders and parsers of `backups.restic`, the process
runner, the repository's environment, and the handling of repository locks (wait with
backoff; remove a stale lock only under our rule, see `backups.locks`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from backups.execute import Completed, JsonCallback, Masker, PipelineResult, Runner, Running
from backups.execute import child_environment as _child_environment
from backups.locks import LockPolicy, describe_holders, remove_stale_locks
from backups.repository import Repository
from backups.restic import check, copy, dump, forget, init, locks, prune, snapshots
from backups.restic.backup import BackupOutput, build_backup, parse_stderr_errors
from backups.restic.errors import EXIT_OK, EXIT_PARTIAL, classify
from backups.restic.features import Version, build_version, parse_version
from orchestrator.errors import (
    BackupTimedOut,
    DrError,
    RepositoryLocked,
    RepositoryNotFound,
    ResticNotInstalled,
    UserInputError,
)

log = logging.getLogger("dr.backups")

EventSink = Callable[[str, dict[str, Any]], None]
_MAX_BACKOFF_S = 30.0
# Listing and removing a lock left by a restic we stopped: its own limit, so that the
# clean-up of a timed-out command cannot time out in turn (and recurse).
_CLEANUP_TIMEOUT_S = 120.0
# Variables of the operator's shell that would steer restic behind our back.
_STEERING = ("RESTIC_", "AWS_")


def restic_program() -> str:
    """restic from DR_RESTIC (to try another build) or PATH."""
    program = os.environ.get("DR_RESTIC") or shutil.which("restic")
    if not program:
        raise ResticNotInstalled("restic is not installed; apt-get install restic")
    return program


def detect_version(runner: Runner, program: str) -> Version:
    result = runner.run([program, *build_version()], _child_environment({}, _STEERING))
    if result.exit_code != EXIT_OK:
        raise ResticNotInstalled(f"`{program} version` failed: {result.stderr.strip()[:200]}")
    return parse_version(result.stdout)


class RepositorySession:
    def __init__(
        self,
        repository: Repository,
        runner: Runner,
        version: Version,
        *,
        program: str,
        lock_policy: LockPolicy,
        on_event: EventSink | None = None,
        timeout: float | None = None,
    ) -> None:
        self.repository = repository
        self.runner = runner
        self.version = version
        self.program = program
        self.lock_policy = lock_policy
        self._on_event = on_event or (lambda kind, data: None)
        # The time limit of one restic command (the set's timeouts.restic).
        self.timeout = timeout
        # restic children this session stopped; a lock one of them leaked is ours.
        self._stopped_pids: set[int] = set()

    @classmethod
    def open(
        cls,
        repository: Repository,
        masker: Masker,
        *,
        lock_policy: LockPolicy,
        on_event: EventSink | None = None,
        timeout: float | None = None,
    ) -> RepositorySession:
        """Resolve the repository's secrets (failing early) and detect restic's version."""
        repository.secrets(masker)
        runner = Runner(masker)
        program = restic_program()
        version = detect_version(runner, program)
        return cls(
            repository, runner, version, program=program, lock_policy=lock_policy,
            on_event=on_event, timeout=timeout,
        )  # fmt: skip

    # -- environment ------------------------------------------------------------------

    def environment(self, source: Repository | None = None) -> dict[str, str]:
        extra = {**self.repository.environment(), **self.repository.credentials_environment()}
        if source is not None:
            extra.update(source.environment(prefix="RESTIC_FROM_"))
            source_creds = source.credentials_environment()
            own = self.repository.credentials_environment()
            if source_creds and own and source_creds != own:
                # One restic process has one set of AWS_* variables.
                raise UserInputError(
                    f"cannot copy between two S3 repositories with different credentials "
                    f"({source.location} -> {self.repository.location}); use one key pair "
                    "that may read the source and write the target"
                )
            extra.update(source_creds)
        env = _child_environment(extra, _STEERING)
        for repo in (self.repository, source):
            # An env: password reference may itself be named RESTIC_...: keep it.
            if repo is not None and repo.password.kind == "env":
                env[repo.password.target] = os.environ.get(repo.password.target, "")
        return env

    def argv(self, args: list[str]) -> list[str]:
        return [self.program, *self.repository.options(), *args]

    # -- running, with lock handling ----------------------------------------------------

    def restic(
        self,
        args: list[str],
        *,
        what: str,
        on_json: JsonCallback | None = None,
        allowed: tuple[int, ...] = (EXIT_OK,),
        accept: Callable[[Completed], bool] | None = None,
        source: Repository | None = None,
    ) -> Completed:
        env = self.environment(source)

        def attempt() -> Completed:
            return self.runner.run(self.argv(args), env, on_json=on_json, timeout=self.timeout)

        return self._retrying(what, attempt, allowed, accept)

    def _retrying(
        self,
        what: str,
        attempt: Callable[[], Completed],
        allowed: tuple[int, ...],
        accept: Callable[[Completed], bool] | None = None,
        *,
        first: Completed | None = None,
    ) -> Completed:
        """`first`: the outcome of an attempt the caller already made (a command started
        early); it is judged like any other, and retried if the repository was locked."""
        deadline = time.monotonic() + self.lock_policy.wait_seconds
        delay = 1.0
        while True:
            result, first = (first, None) if first is not None else (attempt(), None)
            if result.timed_out:
                raise self.timed_out(what, result)
            if result.exit_code in allowed or (accept is not None and accept(result)):
                return result
            error = classify(
                result.exit_code, result.stderr, self.version, what=what,
                location=self.repository.location,
            )  # fmt: skip
            if not isinstance(error, RepositoryLocked):
                raise error
            if remove_stale_locks(self, self.lock_policy, self._on_event):
                continue
            if time.monotonic() + delay > deadline:
                holders = describe_holders(self, self.lock_policy)
                raise RepositoryLocked(
                    f"{what}: the repository at {self.repository.location} stayed locked for "
                    f"{self.lock_policy.wait_seconds}s. {holders}"
                ) from None
            log.info("%s: repository locked; retrying in %.0fs", what, delay)
            time.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)

    def clear_locks_of(self, pids: set[int]) -> None:
        """After we stopped restic children: remove a lock one of them may have leaked
        (see `remove_stale_locks`). Best effort: we are already on a failure path."""
        self._stopped_pids |= pids
        stopped = frozenset(self._stopped_pids)
        limit, self.timeout = self.timeout, _CLEANUP_TIMEOUT_S
        try:
            remove_stale_locks(self, self.lock_policy, self._on_event, stopped_pids=stopped)
        except DrError as err:
            log.warning("could not check for locks left by stopped restic: %s", err.message)
        finally:
            self.timeout = limit

    def timed_out(self, what: str, result: Completed, setting: str = "restic") -> BackupTimedOut:
        """Journal that `what` was stopped at its limit; the error to raise for it."""
        self._on_event(
            "backup.timeout",
            {
                "what": what,
                "repository": self.repository.location,
                "limit_seconds": result.timeout,
                "setting": f"timeouts.{setting}",
                "command": result.argv[0],
            },
        )
        if result.pid is not None:
            self.clear_locks_of({result.pid})
        return BackupTimedOut(
            f"{what} ran past its time limit of {result.timeout:g}s (the set's "
            f"timeouts.{setting}) and was stopped with its whole process group; nothing "
            f"it was writing to {self.repository.location} counts as a backup"
        )

    # -- repository ---------------------------------------------------------------------

    def exists(self) -> bool:
        try:
            self.restic(init.build_cat_config(), what="open repository")
        except RepositoryNotFound:
            return False
        return True

    def init(self, *, chunker_source: Repository | None = None) -> None:
        args = init.build_init(copy_chunker_params=chunker_source is not None)
        self.restic(args, what="restic init", source=chunker_source)

    def snapshots(self, tags: list[str] | None = None) -> list[snapshots.Snapshot]:
        result = self.restic(snapshots.build_snapshots(tags), what="list snapshots")
        return snapshots.parse_snapshots(result.stdout)

    def list_locks(self) -> list[locks.LockInfo]:
        result = self.restic(locks.build_list_locks(), what="list locks")
        found = []
        for lock_id in locks.parse_list_locks(result.stdout):
            # A lock may vanish between listing and reading: its owner finished.
            shown = self.runner.run(
                self.argv(locks.build_cat_lock(lock_id)), self.environment(), timeout=self.timeout
            )
            if shown.exit_code == EXIT_OK:
                found.append(locks.parse_lock(lock_id, shown.stdout))
        return found

    def unlock(self) -> None:
        self.restic(locks.build_unlock(), what="restic unlock")

    # -- backup ---------------------------------------------------------------------------

    def start_backup_paths(
        self, paths: list[str], *, tags: list[str], host: str, at: Any, on_json: JsonCallback
    ) -> PendingPathsBackup:
        """Start `restic backup PATHS` now; `finish()` waits for it. The caller does its
        own work meanwhile (the manifest's hashes) instead of before or after restic."""
        args = build_backup(paths=paths, tags=tags, host=host, time=at)
        return PendingPathsBackup(self, args, on_json)

    def backup_bytes(
        self, data: bytes, filename: str, *, tags: list[str], host: str, at: Any
    ) -> BackupOutput:
        output = BackupOutput()
        args = build_backup(stdin_filename=filename, tags=tags, host=host, time=at)
        env = self.environment()
        self._retrying(
            "restic backup --stdin",
            lambda: self.runner.run(
                self.argv(args), env, on_json=output.take, input_bytes=data, timeout=self.timeout
            ),
            (EXIT_OK,),
        )
        return output

    def start_backup_bytes(
        self, filename: str, *, tags: list[str], host: str, at: Any
    ) -> PendingBytesBackup:
        """Start `restic backup --stdin` now and give it its bytes later: restic derives
        the key and loads the index before it reads stdin, which then overlaps with
        whatever the caller does meanwhile (backing up the files; bench/backup_vs_restic.py
        shows the time it saves)."""
        args = build_backup(stdin_filename=filename, tags=tags, host=host, time=at)
        return PendingBytesBackup(self, args, filename, tags=tags, host=host, at=at)

    def backup_stream(
        self,
        producer: tuple[list[str], dict[str, str]],
        filename: str,
        *,
        tags: list[str],
        host: str,
        at: Any,
        on_json: JsonCallback,
        timeout: float | None = None,
        hash_algorithm: str,
    ) -> tuple[BackupOutput, PipelineResult]:
        """producer | restic backup --stdin, the stream hashed with `hash_algorithm`.
        Returns even when the producer failed or the pipeline ran past `timeout` (then
        `piped.timed_out`, and it is journalled): the caller must look at both exit codes
        (restic may have saved a truncated stream)."""
        args = build_backup(stdin_filename=filename, tags=tags, host=host, time=at)
        env = self.environment()
        holder: dict[str, Any] = {}

        def attempt() -> Completed:
            output = BackupOutput()

            def take(message: dict[str, Any]) -> None:
                output.take(message)
                on_json(message)

            piped = self.runner.pipeline(
                producer,
                (self.argv(args), env),
                on_json=take,
                timeout=timeout,
                hash_algorithm=hash_algorithm,
            )
            holder.update(output=output, piped=piped)
            if piped.timed_out:
                self.timed_out(f"the dump into {filename}", piped.consumer, "dump")
                # Not an exception: the caller fails the part and removes any snapshot.
                return dataclasses.replace(piped.consumer, timed_out=False)
            return piped.consumer

        def producer_failed(_: Completed) -> bool:
            # restic's failure is then a consequence (0.14: "snapshot is empty"); the
            # caller reports the producer's. A lock or repository error is not.
            piped: PipelineResult = holder["piped"]
            if piped.timed_out:
                return True
            return piped.producer.exit_code != 0 and not piped.producer_killed

        self._retrying("restic backup --stdin", attempt, (EXIT_OK,), producer_failed)
        return holder["output"], holder["piped"]

    # -- reading back -------------------------------------------------------------------

    def read_file(self, snapshot_id: str, path: str) -> bytes:
        result = self.restic(dump.build_dump(snapshot_id, path), what=f"restic dump {path}")
        return result.stdout.encode()

    def stream_file(
        self,
        snapshot_id: str,
        path: str,
        consumer: tuple[list[str], dict[str, str]],
        *,
        hash_algorithm: str,
    ) -> PipelineResult:
        """restic dump SNAPSHOT PATH | consumer (e.g. pg_restore --list), the whole file
        hashed with `hash_algorithm` even when the consumer reads only its head."""
        producer = (self.argv(dump.build_dump(snapshot_id, path)), self.environment())
        piped = self.runner.pipeline(
            producer, consumer, timeout=self.timeout, drain=True, hash_algorithm=hash_algorithm
        )
        if piped.timed_out:
            raise self.timed_out(f"reading {path} back with restic dump", piped.consumer)
        return piped

    # -- retention, checking, copying ---------------------------------------------------

    def forget_policy_preview(
        self, policy: dict[str, int], tags: list[str]
    ) -> list[forget.ForgetGroup]:
        args = forget.build_forget_policy(policy, tags)
        return forget.parse_forget(self.restic(args, what="restic forget --dry-run").stdout)

    def forget_ids(self, snapshot_ids: list[str]) -> None:
        if snapshot_ids:
            self.restic(forget.build_forget_ids(snapshot_ids), what="restic forget")

    def prune(self) -> list[str]:
        return prune.parse_prune(self.restic(prune.build_prune(), what="restic prune").stdout)

    def check(self, subset: str | None) -> check.CheckResult:
        args = check.build_check(self.version, subset)
        # Exit 1 is a finding (damage) only when restic says so; otherwise it is an access
        # problem (locked, unreachable, ...) and goes through the usual classification.
        result = self.restic(
            args, what="restic check", accept=lambda r: check.found_damage(r.exit_code, r.stderr)
        )
        return check.parse_check(
            self.version, result.exit_code, result.stdout, result.stderr, subset
        )

    def copy_from(self, source: Repository, snapshot_ids: list[str]) -> list[str]:
        result = self.restic(copy.build_copy(snapshot_ids), what="restic copy", source=source)
        return copy.parse_copy(result.stdout)


class PendingBytesBackup:
    """A `restic backup --stdin` started early (see `start_backup_bytes`). `write()`
    gives it the bytes and returns restic's output; `cancel()` interrupts it, which
    also frees its repository lock (e.g. before a `forget` needs an exclusive one).
    Anything but a clean first attempt falls back to `backup_bytes`, which retries on
    a locked repository and classifies every other failure."""

    def __init__(
        self,
        session: RepositorySession,
        args: list[str],
        filename: str,
        *,
        tags: list[str],
        host: str,
        at: Any,
    ) -> None:
        self._session = session
        self._again = {"filename": filename, "tags": tags, "host": host, "at": at}
        self._output = BackupOutput()
        self._running: Running | None = session.runner.start(
            session.argv(args),
            session.environment(),
            on_json=self._output.take,
            stdin=True,
            timeout=session.timeout,
        )

    def write(self, data: bytes) -> BackupOutput:
        running, self._running = self._running, None
        if running is not None:
            done = running.finish(data)
            if done.exit_code == EXIT_OK and not done.timed_out and self._output.summary:
                return self._output
            log.info("early restic backup --stdin exited %d; trying again", done.exit_code)
        return self._session.backup_bytes(data, **self._again)

    def cancel(self) -> None:
        running, self._running = self._running, None
        if running is not None and running.stop():
            self._session.clear_locks_of({running.process.pid})


class PendingPathsBackup:
    """A `restic backup PATHS` started at once (see `start_backup_paths`). `finish()`
    waits for it and handles its outcome like `RepositorySession.restic` does: a locked
    repository is waited for and the backup run again, every other failure classified;
    exit code 3 (some files unreadable) is a result. `cancel()` interrupts it."""

    _WHAT = "restic backup"

    def __init__(self, session: RepositorySession, args: list[str], on_json: JsonCallback) -> None:
        self._session = session
        self._output = BackupOutput()

        def take(message: dict[str, Any]) -> None:
            self._output.take(message)
            on_json(message)

        self._take = take
        self._argv = session.argv(args)
        self._env = session.environment()
        self._running: Running | None = self._start()

    def _start(self) -> Running:
        return self._session.runner.start(
            self._argv, self._env, on_json=self._take, timeout=self._session.timeout
        )

    def finish(self) -> tuple[BackupOutput, Completed]:
        running, self._running = self._running, None
        if running is None:
            raise RuntimeError("this restic backup was already finished or cancelled")
        result = self._session._retrying(
            self._WHAT,
            lambda: self._start().finish(),
            (EXIT_OK, EXIT_PARTIAL),
            first=running.finish(),
        )
        self._output.errors += parse_stderr_errors(result.stderr)
        return self._output, result

    def cancel(self) -> None:
        running, self._running = self._running, None
        if running is not None and running.stop():
            self._session.clear_locks_of({running.process.pid})
