"""`dr backup find-clean SET`: the newest backup that passes the restore test's checks, for
"restore to before the attack" (ransomware, a destructive statement, damaged storage).

A restic set's runs are tried newest first (only those before `before`, when given):
each is restored into a scratch place and checked as a restore test checks it
(`backups.actions.restore_test.check_run`: every file against the manifest, each
database's tables, the set's validation queries). The first run that passes is the
answer; each one rejected before it is named with why. Data encrypted by ransomware
before a backup is backed up faithfully, so only the set's validations can tell it
(the tables it must hold, the rows, how fresh they are): give a set the validations
that would fail on damaged data. Unlike a restore test, this records no RTO/RPO
measurement: only its answer (`backup.find_clean`), so that the monthly figures stay
the monthly tests'. A `postgres-pitr` set: `backups.pitr.find_clean`.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg2

from backups import catalog
from backups.actions.restore_test import check_run
from backups.context import BackupContext
from backups.restore.record import RestoreTestRecord
from backups.session import RepositorySession
from orchestrator.errors import EXIT_FAILED, EXIT_OK, DrError, RepositoryNotFound

CLEAN, REJECTED = "clean", "rejected"


@dataclass
class Candidate:
    """One backup looked at: a restic run, or a base backup in one repository."""

    id: str
    time: str
    verdict: str  # clean or rejected
    reasons: list[str] = field(default_factory=list)
    snapshot: str | None = None  # a restic run's manifest snapshot
    repository: int | None = None  # a base backup's repository
    seconds: float | None = None


@dataclass
class FindCleanResult:
    backup_set: str
    kind: str
    before: str | None
    started_at: str
    clean: Candidate | None = None
    # Newest first, down to the clean one (those older were not looked at).
    candidates: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.clean is not None else EXIT_FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_clean(ctx: BackupContext, *, before: datetime | None = None) -> FindCleanResult:
    bset = ctx.backup_set
    result = FindCleanResult(bset.name, "restic", _iso(before), _now())
    session = ctx.session()
    if not session.exists():
        raise RepositoryNotFound(f"there is no restic repository at {session.repository.location}")
    runs = catalog.runs(catalog.set_snapshots(session, bset.name))
    older = [r for r in runs if before is None or r.time < before]
    for run in reversed(older):
        candidate = _try(ctx, session, run)
        result.candidates.append(candidate)
        if candidate.verdict == CLEAN:
            result.clean = candidate
            break
    if not older:
        result.notes.append("no run of this set is older than --before" if before else "no runs")
    ctx.record("backup.find_clean", result.to_dict())
    return result


def _try(ctx: BackupContext, session: RepositorySession, run: catalog.BackupRun) -> Candidate:
    candidate = Candidate(
        run.run_id, run.time.isoformat(), REJECTED,
        snapshot=run.manifest.id if run.manifest else None,
    )  # fmt: skip
    if run.status != "ok":
        candidate.reasons.append(f"the run is {run.status}: only a good run is a restore point")
        return candidate
    record = RestoreTestRecord(
        f"fc-{secrets.token_hex(4)}", ctx.backup_set.name, session.repository.location,
        _now(),
    )  # fmt: skip
    started = datetime.now(UTC)
    try:
        check_run(ctx, session, run, record)
    except DrError as err:
        record.fail(err.message)
    except psycopg2.Error as err:
        record.fail(f"the scratch database refused a query: {ctx.masker(str(err).strip())}")
    except OSError as err:
        record.fail(f"the scratch place failed: {err}")
    candidate.seconds = round((datetime.now(UTC) - started).total_seconds(), 3)
    candidate.reasons = list(record.problems)
    candidate.verdict = REJECTED if record.problems else CLEAN
    return candidate


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
