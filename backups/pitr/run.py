"""`dr backup run SET` for a `postgres-pitr` set: one base backup into each repository,
full or differential (`--type`, else by the set's schedules: `schedule.choose_type`),
under the set's lock, into the journal (`backup.started`, `backup.finished`).

A backup goes to one repository at a time, so each repository is tried in turn and a
failure in one (the offsite unreachable) leaves the others' backups standing: the run
is then `partial`, and exits non-zero like any run that is not `ok`. What each backup
really was (a diff with no full before it becomes a full), its label, sizes, times and
WAL range are read back from `pgbackrest info` through the run's annotation.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from backups.locks import backup_set_lock
from backups.pgbackrest.backup import RUN_ANNOTATION, BackupType, upgraded_to_full
from backups.pgbackrest.info import BaseBackup
from backups.pitr.context import PitrContext
from backups.pitr.schedule import choose_type
from backups.pitr.session import StanzaSession
from backups.results import FAILED, OK, PARTIAL
from orchestrator.errors import EXIT_FAILED, EXIT_OK, DrError


@dataclass
class PitrBackupResult:
    run_id: str
    backup_set: str
    stanza: str
    type: str  # what was asked for
    type_reason: str
    started_at: str
    kind: str = "postgres-pitr"
    status: str = OK
    finished_at: str | None = None
    duration_seconds: float = 0.0
    pgbackrest_version: str | None = None
    # One entry per repository: where, and the backup made there (or its error).
    backups: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.status == OK else EXIT_FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_backup(
    ctx: PitrContext,
    *,
    kind: BackupType | None = None,
    now: datetime | None = None,
    wait_seconds: float = 0,
) -> PitrBackupResult:
    bset = ctx.backup_set
    moment = now or datetime.now(UTC)
    if kind is None:
        kind, reason = choose_type(bset.schedule, moment, ctx.inventory.timezone)
    else:
        reason = "asked for (--type)"
    result = PitrBackupResult(new_run_id(), bset.name, bset.stanza, kind, reason, _now())
    started = time.monotonic()
    with backup_set_lock(bset.name, wait_seconds=wait_seconds):
        ctx.record(
            "backup.started", {"stanza": bset.stanza, "type": kind, "reason": reason},
            run_id=result.run_id,
        )  # fmt: skip
        try:
            _back_up(ctx, result, kind)
        except DrError as err:
            result.status = FAILED
            result.errors.append(err.message)
            _finish(ctx, result, started)
            raise
        _finish(ctx, result, started)
    return result


def _back_up(ctx: PitrContext, result: PitrBackupResult, kind: BackupType) -> None:
    session = ctx.session()
    result.pgbackrest_version = str(session.version)
    for index, repository in enumerate(session.settings.repositories, start=1):
        entry: dict[str, Any] = {"repository": index, "location": repository.describe()}
        result.backups.append(entry)
        began = time.monotonic()
        try:
            done = session.backup(
                kind, index, run_id=result.run_id, timeout=ctx.backup_set.timeouts.backup
            )
        except DrError as err:
            entry.update(status=FAILED, error=err.message)
            result.errors.append(f"repo{index} ({repository.describe()}): {err.message}")
        else:
            entry.update(status=OK, upgraded_to_full=upgraded_to_full(done.stderr))
        entry["seconds"] = round(time.monotonic() - began, 3)
    made = [e for e in result.backups if e["status"] == OK]
    result.status = OK if len(made) == len(result.backups) else PARTIAL if made else FAILED
    if made:
        _describe_made(ctx, session, result)


def _describe_made(ctx: PitrContext, session: StanzaSession, result: PitrBackupResult) -> None:
    """Label, type, sizes, times and WAL range of each backup this run made."""
    try:
        stanza = session.info(ctx.backup_set.timeouts.other)
    except DrError as err:
        result.errors.append(f"the backups were made, but `info` could not list them: {err}")
        return
    ours: dict[int, BaseBackup] = {
        b.repository: b for b in stanza.annotated(RUN_ANNOTATION, result.run_id)
    }
    since = datetime.fromisoformat(result.started_at)
    for entry in result.backups:
        repository = entry["repository"]
        # Without annotations (pgBackRest before 2.41): the newest begun during the run.
        later = [b for b in stanza.backups_in(repository) if b.start >= since]
        backup = ours.get(repository) or (later[-1] if later else None)
        if entry["status"] == OK and backup is not None:
            entry.update(backup.to_dict())


def _finish(ctx: PitrContext, result: PitrBackupResult, started: float) -> None:
    result.finished_at = _now()
    result.duration_seconds = round(time.monotonic() - started, 3)
    ctx.record("backup.finished", result.to_dict(), run_id=result.run_id)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
