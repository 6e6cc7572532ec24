"""One repository opened with one restic: every restic command of an action goes here.

It joins the pieces: the command builders and parsers of `backups.restic`, the process
runner, the repository's environment, and the handling of repository locks (wait with
backoff; remove a stale lock only under our rule, see `backups.locks`).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

from backups.execute import Completed, JsonCallback, Masker, PipelineResult, Runner
from backups.execute import child_environment as _child_environment
from backups.locks import LockPolicy, describe_holders, remove_stale_locks
from backups.repository import Repository
from backups.restic import check, copy, dump, forget, init, locks, prune, snapshots
from backups.restic.backup import BackupOutput, build_backup, parse_stderr_errors
from backups.restic.errors import EXIT_OK, classify
from backups.restic.features import Version, build_version, parse_version
from orchestrator.errors import (
    RepositoryLocked,
    RepositoryNotFound,
    ResticNotInstalled,
    UserInputError,
)

log = logging.getLogger("dr.backups")

EventSink = Callable[[str, dict[str, Any]], None]
_MAX_BACKOFF_S = 30.0
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
    if result.exit_code != 0:
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
    ) -> None:
        self.repository = repository
        self.runner = runner
        self.version = version
        self.program = program
        self.lock_policy = lock_policy
        self._on_event = on_event or (lambda kind, data: None)

    @classmethod
    def open(
        cls,
        repository: Repository,
        masker: Masker,
        *,
        lock_policy: LockPolicy,
        on_event: EventSink | None = None,
    ) -> RepositorySession:
        """Resolve the repository's secrets (failing early) and detect restic's version."""
        repository.secrets(masker)
        runner = Runner(masker)
        program = restic_program()
        version = detect_version(runner, program)
        return cls(
            repository, runner, version, program=program, lock_policy=lock_policy,
            on_event=on_event,
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
        return self._retrying(
            what, lambda: self.runner.run(self.argv(args), env, on_json=on_json), allowed, accept
        )

    def _retrying(
        self,
        what: str,
        attempt: Callable[[], Completed],
        allowed: tuple[int, ...],
        accept: Callable[[Completed], bool] | None = None,
    ) -> Completed:
        deadline = time.monotonic() + self.lock_policy.wait_seconds
        delay = 1.0
        while True:
            result = attempt()
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
            shown = self.runner.run(self.argv(locks.build_cat_lock(lock_id)), self.environment())
            if shown.exit_code == 0:
                found.append(locks.parse_lock(lock_id, shown.stdout))
        return found

    def unlock(self) -> None:
        self.restic(locks.build_unlock(), what="restic unlock")

    # -- backup ---------------------------------------------------------------------------

    def backup_paths(
        self, paths: list[str], *, tags: list[str], host: str, at: Any, on_json: JsonCallback
    ) -> tuple[BackupOutput, Completed]:
        """Back up files; exit code 3 (some files unreadable) is a result, not an error."""
        output = BackupOutput()

        def take(message: dict[str, Any]) -> None:
            output.take(message)
            on_json(message)

        args = build_backup(paths=paths, tags=tags, host=host, time=at)
        result = self.restic(args, what="restic backup", on_json=take, allowed=(0, 3))
        output.errors += parse_stderr_errors(result.stderr)
        return output, result

    def backup_bytes(
        self, data: bytes, filename: str, *, tags: list[str], host: str, at: Any
    ) -> BackupOutput:
        output = BackupOutput()
        args = build_backup(stdin_filename=filename, tags=tags, host=host, time=at)
        env = self.environment()
        self._retrying(
            "restic backup --stdin",
            lambda: self.runner.run(self.argv(args), env, on_json=output.take, input_bytes=data),
            (EXIT_OK,),
        )
        return output

    def backup_stream(
        self,
        producer: tuple[list[str], dict[str, str]],
        filename: str,
        *,
        tags: list[str],
        host: str,
        at: Any,
        on_json: JsonCallback,
    ) -> tuple[BackupOutput, PipelineResult]:
        """producer | restic backup --stdin. Returns even when the producer failed: the
        caller must look at both exit codes (restic may have saved a truncated stream)."""
        args = build_backup(stdin_filename=filename, tags=tags, host=host, time=at)
        env = self.environment()
        holder: dict[str, Any] = {}

        def attempt() -> Completed:
            output = BackupOutput()

            def take(message: dict[str, Any]) -> None:
                output.take(message)
                on_json(message)

            piped = self.runner.pipeline(producer, (self.argv(args), env), on_json=take)
            holder.update(output=output, piped=piped)
            return piped.consumer

        def producer_failed(_: Completed) -> bool:
            # restic's failure is then a consequence (0.14: "snapshot is empty"); the
            # caller reports the producer's. A lock or repository error is not.
            piped: PipelineResult = holder["piped"]
            return piped.producer.exit_code != 0 and not piped.producer_killed

        self._retrying("restic backup --stdin", attempt, (EXIT_OK,), producer_failed)
        return holder["output"], holder["piped"]

    # -- reading back -------------------------------------------------------------------

    def read_file(self, snapshot_id: str, path: str) -> bytes:
        result = self.restic(dump.build_dump(snapshot_id, path), what=f"restic dump {path}")
        return result.stdout.encode()

    def stream_file(
        self, snapshot_id: str, path: str, consumer: tuple[list[str], dict[str, str]]
    ) -> PipelineResult:
        """restic dump SNAPSHOT PATH | consumer (e.g. pg_restore --list)."""
        producer = (self.argv(dump.build_dump(snapshot_id, path)), self.environment())
        return self.runner.pipeline(producer, consumer)

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
