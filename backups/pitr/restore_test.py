"""`dr restore-test SET [--to TIME]` for a `postgres-pitr` set, and the scheduler's monthly
test: restore the cluster to a moment into a scratch place, prove the copy, remove it.

The moment is drawn at random from the tested repository's recovery window within the
last period (or given: `--to`); pgBackRest restores the base backup that ended before it
into a scratch data directory and the scratch server replays WAL up to the moment
(`restore_test_scratch`). The copy is then proved by the set's validation queries and,
where the set names a table of acknowledged writes, by every write acknowledged before
the moment being there and none after it (`restore_test_writes`). The scratch server
and its directory are removed in every case.

The record is the restic test's (`RestoreTestRecord`, so the reports and the textfile
read both alike) plus the moment, the window, the backup restored, where replay stopped
and the writes' verdict; `snapshot_time` is the moment, `run_id` the backup's label.
It goes into the journal as `restore_test.finished`, with RTO (restore, replay and
checks) and RPO (how old the repository's newest WAL was at the test) as measurement
rows. Like every restore test there is no partial success.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

from backups.locks import backup_set_lock
from backups.pgbackrest.restore import RecoveryTarget
from backups.pitr.context import PitrContext
from backups.pitr.listing import list_backups
from backups.pitr.restore import restore_cluster
from backups.pitr.restore_test_point import ChosenPoint, choose_point, window_of
from backups.pitr.restore_test_scratch import RestoredCluster
from backups.pitr.restore_test_writes import (
    AcknowledgedWrites,
    LiveTable,
    WritesTable,
    check_writes,
)
from backups.pitr.settings import stanza_settings
from backups.restore.measurements import NAMES, measurement_rows
from backups.restore.record import Measurement, RestoreTestRecord
from backups.restore.scratch_pg import scratch_dir
from backups.restore.validations import run_validation
from orchestrator.errors import DatabaseUnreachable, DrError, RestoreTestFailed
from orchestrator.inventory import PitrBackupSet, format_duration
from orchestrator.verdicts import NOT_MET

KIND = "postgres-pitr"


@dataclass
class PitrRestoreTestRecord(RestoreTestRecord):
    kind: str = KIND
    point: dict[str, Any] = field(default_factory=dict)  # restore_test_point.ChosenPoint
    window: dict[str, Any] = field(default_factory=dict)
    backup_label: str | None = None
    recovery: dict[str, Any] = field(default_factory=dict)  # restore_test_scratch.Recovery
    writes: dict[str, Any] | None = None  # restore_test_writes.WritesCheck
    # The largest gap between good backups is a restic set's measure: a pitr set's
    # recovery point moves with every WAL segment, not with its base backups.
    measurements: dict[str, Measurement] = field(
        default_factory=lambda: {k: Measurement() for k in ("rto", "rpo")}
    )


def new_test_id() -> str:
    return f"rt-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def restore_test(
    ctx: PitrContext,
    *,
    to: datetime | None = None,
    rng: random.Random | None = None,
    wait_seconds: float = 0,
    acknowledged: AcknowledgedWrites | None = None,
) -> PitrRestoreTestRecord:
    """`to`: the moment (default: at random in the last period); `wait_seconds`: how
    long to wait for the set's lock (a backup running); `acknowledged`: where the
    acknowledged writes are known (default: the set's writes_table in the live
    database; the drill lab's load generator knows them too)."""
    bset = ctx.backup_set
    now = datetime.now(UTC)
    test = bset.restore_test
    record = PitrRestoreTestRecord(
        new_test_id(), bset.name, f"repo{test.repository}", now.isoformat(timespec="seconds")
    )
    asked = None if to is None else to.isoformat()
    ctx.record("restore_test.started", {"to": asked}, run_id=record.test_id)
    try:
        # Under the set's lock: an expire after a backup must not remove the base backup
        # being restored.
        with backup_set_lock(bset.name, wait_seconds=wait_seconds):
            _test(ctx, record, _Asked(to, rng or random.SystemRandom(), acknowledged), now)
    except DrError as err:
        record.fail(err.message)
    except psycopg2.Error as err:
        record.fail(f"a database refused a query: {ctx.masker(str(err).strip())}")
    except OSError as err:
        record.fail(f"the scratch place failed: {err}")
    record.finish(datetime.now(UTC))
    ctx.record("restore_test.finished", record.to_dict(), run_id=record.test_id)
    _record_measurements(ctx, record)
    return record


@dataclass(frozen=True)
class _Asked:
    to: datetime | None
    rng: random.Random
    acknowledged: AcknowledgedWrites | None


def _test(ctx: PitrContext, record: PitrRestoreTestRecord, asked: _Asked, now: datetime) -> None:
    bset = ctx.backup_set
    test = bset.restore_test
    window = window_of(list_backups(ctx, now=now), test.repository)
    record.repository = f"repo{window.repository} ({window.location})"
    record.window = window.to_dict()
    point = choose_point(window, now=now, period_seconds=test.period, given=asked.to, rng=asked.rng)
    record.point = point.to_dict()
    record.snapshot_time = point.moment.isoformat()
    backup = window.backup_for(point.moment)
    record.backup_label = record.run_id = backup.label
    with scratch_dir() as root:
        data_dir = root / "pg" / "data"
        restored = restore_cluster(
            ctx, data_dir, RecoveryTarget.at_time(point.moment),
            repository=window.repository, backup_label=backup.label,
        )  # fmt: skip
        record.durations["restore"] = float(restored["seconds"])
        record.bytes = _size(data_dir)
        scratch = RestoredCluster(data_dir, ctx.session().owner)
        try:
            recovery = scratch.recover(bset.timeouts.restore)
            record.recovery = recovery.to_dict()
            record.durations["recovery"] = recovery.seconds
            _validate(ctx, record, scratch, point)
            if test.writes_table is not None or asked.acknowledged is not None:
                _check_writes(ctx, record, scratch, point, backup.start, asked.acknowledged)
        finally:
            with contextlib.suppress(DrError):
                scratch.stop("immediate")
    _measure(record, bset, window.newest_wal_age_seconds)


def _validate(
    ctx: PitrContext, record: PitrRestoreTestRecord, scratch: RestoredCluster, point: ChosenPoint
) -> None:
    database, zone = _database(ctx), ctx.inventory.timezone
    started = time.monotonic()
    checks = ctx.backup_set.restore_test.validations
    if checks:
        scratch.add_validator()
    for check in checks:
        # As a role that may only read, read-only: the queries run on production data.
        target = check.database or database
        with contextlib.closing(scratch.connect(target, validator=True)) as conn:
            conn.set_session(readonly=True)
            result = run_validation(conn, check, point.moment, zone)
        result["database"] = check.database or database
        record.validations.append(result)
        if result["problem"] is not None:
            record.fail(result["problem"])
    record.durations["validations"] = round(time.monotonic() - started, 3)


def _check_writes(
    ctx: PitrContext,
    record: PitrRestoreTestRecord,
    scratch: RestoredCluster,
    point: ChosenPoint,
    since: datetime,
    acknowledged: AcknowledgedWrites | None,
) -> None:
    test = ctx.backup_set.restore_test
    if test.writes_table is None:
        raise RestoreTestFailed(
            "acknowledged writes were given, but restore_test.writes_table does not name the "
            "table the copy holds them in"
        )
    database, zone = _database(ctx), ctx.inventory.timezone
    started = time.monotonic()
    table = WritesTable(test.writes_table, test.id_column, test.time_column)
    with contextlib.ExitStack() as stack:
        copy = stack.enter_context(contextlib.closing(scratch.connect(database)))
        _read_only(copy, zone)
        source = acknowledged
        if source is None:
            live = stack.enter_context(contextlib.closing(_live_connection(ctx, database)))
            _read_only(live, zone)
            source = LiveTable(live, table, _live_place(ctx, database))
        found = check_writes(
            source, copy, table, point.moment, since=since, in_flight_seconds=test.in_flight
        )
    record.writes = found.to_dict()
    record.durations["writes"] = round(time.monotonic() - started, 3)
    for problem in found.problems:
        record.fail(f"acknowledged writes: {problem}")


def _database(ctx: PitrContext) -> str:
    bset = ctx.backup_set
    if bset.restore_test.database is not None:
        return bset.restore_test.database
    pair_database = ctx.inventory.pair(bset.host_pair).database
    return pair_database.name if pair_database is not None else "postgres"


def _live_place(ctx: PitrContext, database: str) -> str:
    live = stanza_settings(ctx.inventory, ctx.backup_set)
    return f"{live.pg_socket_path}:{live.pg_port}/{database}"


def _live_connection(ctx: PitrContext, database: str) -> Any:
    """The live cluster as pgBackRest reaches it (pg1: socket, port, user)."""
    live = stanza_settings(ctx.inventory, ctx.backup_set)
    try:
        return psycopg2.connect(
            host=live.pg_socket_path, port=live.pg_port, user=live.pg_user, dbname=database,
            connect_timeout=10, application_name="dr-restore-test",
        )  # fmt: skip
    except psycopg2.Error as err:
        raise DatabaseUnreachable(
            f"cannot read the acknowledged writes from the live database {database} "
            f"({live.pg_socket_path}:{live.pg_port} as {live.pg_user}): {str(err).strip()}"
        ) from None


def _read_only(conn: Any, zone: str) -> None:
    # Times without a zone are read in the inventory's, as the institution writes them.
    conn.set_session(readonly=True, autocommit=True)
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, false)", (zone,))


def _measure(record: PitrRestoreTestRecord, bset: PitrBackupSet, wal_age: float) -> None:
    rto_target, rpo_target = targets(bset)
    work = sum(record.durations.values())
    record.measurements["rto"] = Measurement.of(work, rto_target)
    record.measurements["rpo"] = Measurement.of(wal_age, rpo_target)
    labels = {
        "rto": "RTO target not met: restore, replay and checks took",
        "rpo": "RPO target not met: the repository's newest archived WAL was",
    }
    for key, text in labels.items():
        found = record.measurements[key]
        if found.verdict == NOT_MET and found.seconds is not None:
            record.fail(
                f"{text} {format_duration(found.seconds)}, target "
                f"{format_duration(found.target_seconds or 0)}"
            )


def targets(bset: PitrBackupSet) -> tuple[int | None, int | None]:
    """The restore test's RTO and RPO targets: its own, else the set's."""
    test = bset.restore_test
    return (
        test.rto if test.rto is not None else bset.rto,
        test.rpo if test.rpo is not None else bset.rpo,
    )


def _record_measurements(ctx: PitrContext, record: PitrRestoreTestRecord) -> None:
    journal = ctx.opened_journal()
    if journal is None:
        return
    rto_target, rpo_target = targets(ctx.backup_set)
    for row in measurement_rows(record, rto_target=rto_target, rpo_target=rpo_target):
        if row.name != NAMES["max_gap"]:
            journal.record_measurement(record.test_id, row)


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
