"""`dr restore-test SET [--snapshot ID]`: restore a good run into a scratch place, verify
it against its manifest and the inventory's validation queries, measure RTO and RPO,
remove the scratch data, and record the outcome in the journal: the whole record as the
`restore_test.finished` event, and its RTO/RPO as measurement rows beside the drills'
(see `backups.restore.measurements`).

Any fault (repository unreachable, wrong password, a damaged pack, a file or table that
disagrees with the manifest, a failed query, a missed target) fails the whole test with
its exact cause; the record is written in every case. Files that changed while they were
backed up are no fault: the record counts them (`files.changed_while_backed_up`).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from backups import catalog
from backups import manifest as mf
from backups.context import BackupContext
from backups.restore import objectives
from backups.restore.database import connect, restore_database
from backups.restore.files import restore_files
from backups.restore.measurements import measurement_rows
from backups.restore.record import RestoreTestRecord
from backups.restore.scratch_pg import ScratchPostgres, scratch_dir, scratch_postgres
from backups.restore.validations import run_validation
from backups.session import RepositorySession
from orchestrator.errors import DrError, RepositoryNotFound, RestoreTestFailed


def new_test_id() -> str:
    return f"rt-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def restore_test(ctx: BackupContext, *, snapshot: str | None = None) -> RestoreTestRecord:
    bset = ctx.backup_set
    now = datetime.now(UTC)
    record = RestoreTestRecord(
        new_test_id(), bset.name, bset.repository, now.isoformat(timespec="seconds")
    )
    ctx.record("restore_test.started", {"snapshot": snapshot}, run_id=record.test_id)
    try:
        _test(ctx, record, snapshot, now)
    except DrError as err:
        record.fail(err.message)
    except psycopg2.Error as err:
        record.fail(f"the scratch database refused a query: {ctx.masker(str(err).strip())}")
    except OSError as err:
        record.fail(f"the scratch place failed: {err}")
    record.finish(datetime.now(UTC))
    ctx.record("restore_test.finished", record.to_dict(), run_id=record.test_id)
    journal = ctx.opened_journal()
    if journal is not None:
        rto_target, rpo_target = objectives.targets(bset)
        for row in measurement_rows(record, rto_target=rto_target, rpo_target=rpo_target):
            journal.record_measurement(record.test_id, row)
    return record


def _test(
    ctx: BackupContext, record: RestoreTestRecord, snapshot: str | None, now: datetime
) -> None:
    session = ctx.session()
    if not session.exists():
        raise RepositoryNotFound(f"there is no restic repository at {session.repository.location}")
    runs = catalog.runs(catalog.set_snapshots(session, ctx.backup_set.name))
    run = _choose(runs, snapshot)
    record.run_id = run.run_id
    record.snapshot_id = run.manifest.id if run.manifest else None
    record.snapshot_time = run.time.isoformat()
    record.snapshots = {part: snap.id for part, snap in sorted(run.parts.items())}
    check_run(ctx, session, run, record)
    objectives.measure(record, ctx.backup_set, runs, run.time, now)


def check_run(
    ctx: BackupContext,
    session: RepositorySession,
    run: catalog.BackupRun,
    record: RestoreTestRecord,
) -> None:
    """Restore `run` into a scratch place and check it (files against its manifest, each
    database's tables, the set's validations), every problem into `record`; the checks
    of a restore test, also used by `backups.find_clean`. Raises what `restore_test`
    turns into a failed test (our errors, the scratch database's, the scratch place's)."""
    manifest = catalog.read_manifest(session, run)
    with scratch_dir() as root:
        _restore(ctx, session, manifest, record, root, run.time)


def _choose(runs: list[catalog.BackupRun], wanted: str | None) -> catalog.BackupRun:
    if wanted is None:
        good = catalog.last_good_run(runs)
        if good is None:
            raise RestoreTestFailed("the repository holds no good (status ok) run of this set")
        return good
    found = [
        r for r in runs
        if r.run_id == wanted or any(s.id.startswith(wanted) for s in r.snapshots)
    ]  # fmt: skip
    if len(found) != 1:
        what = "no run" if not found else f"{len(found)} runs"
        raise RestoreTestFailed(f"{what} of this set match the snapshot or run id {wanted!r}")
    if found[0].status != "ok":
        raise RestoreTestFailed(
            f"run {found[0].run_id} is {found[0].status}: only a good run can pass a restore test"
        )
    return found[0]


def _restore(
    ctx: BackupContext,
    session: RepositorySession,
    manifest: mf.Manifest,
    record: RestoreTestRecord,
    root: Path,
    snapshot_time: datetime,
) -> None:
    if manifest.files is not None:
        files = restore_files(session, manifest.files, root / "files")
        record.files = files.summary()
        record.bytes += files.bytes
        record.durations.update(
            files_restore=files.restore_seconds, files_verify=files.verify_seconds
        )
        for problem in files.problems:
            record.fail(problem)
    if not manifest.databases:
        return
    started = time.monotonic()
    with scratch_postgres(root) as scratch:
        record.durations["scratch_setup"] = time.monotonic() - started
        for part in manifest.databases:
            outcome = restore_database(session, part, scratch)
            record.databases.append(outcome.summary())
            record.bytes += outcome.bytes
            _add(record, "database_restore", outcome.restore_seconds)
            _add(record, "database_verify", outcome.verify_seconds)
            for problem in outcome.problems:
                record.fail(problem)
            if not outcome.problems:
                _validate(ctx, record, scratch, part.name, outcome.scratch_database, snapshot_time)


def _validate(
    ctx: BackupContext,
    record: RestoreTestRecord,
    scratch: ScratchPostgres,
    database: str,
    scratch_database: str,
    snapshot_time: datetime,
) -> None:
    checks = [
        c for c in ctx.backup_set.restore_test.validations
        if (c.database or ctx.backup_set.databases[0].name) == database
    ]  # fmt: skip
    if not checks:
        return
    started = time.monotonic()
    # As the role that may only read, in read-only transactions: the queries come from
    # the inventory and the data from production, and neither may change anything.
    with connect(scratch, scratch_database, validator=True) as conn:
        conn.set_session(readonly=True)
        for check in checks:
            result = run_validation(conn, check, snapshot_time, ctx.inventory.timezone)
            result["database"] = database
            record.validations.append(result)
            if result["problem"] is not None:
                record.fail(result["problem"])
    _add(record, "validations", time.monotonic() - started)


def _add(record: RestoreTestRecord, phase: str, seconds: float) -> None:
    record.durations[phase] = round(record.durations.get(phase, 0.0) + seconds, 3)
