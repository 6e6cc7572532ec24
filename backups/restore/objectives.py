"""RTO and RPO achieved by a restore test, each against its target.

RTO achieved: the time spent restoring and verifying (files and databases), not the
scratch server's start: in a real recovery the server is already there.
RPO achieved: the test's time minus the snapshot's. The largest gap: between consecutive
good runs within the period, and from the newest good run to the test, because data
written in any such gap would have been lost by a failure at its end. The good run just
before the period starts is included, so the period's first gap is measured too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from backups.catalog import BackupRun
from backups.restore.record import Measurement, RestoreTestRecord
from orchestrator.inventory import BackupSet, format_duration
from orchestrator.verdicts import NOT_MET


def largest_gap(runs: list[BackupRun], now: datetime, period_seconds: int) -> float | None:
    times = sorted(r.time for r in runs if r.status == "ok" and r.time <= now)
    if not times:
        return None
    start = now - timedelta(seconds=period_seconds)
    before = [t for t in times if t < start]
    within = [t for t in times if t >= start]
    points = [*before[-1:], *within, now]
    return max((b - a).total_seconds() for a, b in pairwise(points))


def targets(bset: BackupSet) -> tuple[int | None, int | None]:
    """The restore test's RTO and RPO targets: its own, else the set's."""
    rto = bset.restore_test.rto if bset.restore_test.rto is not None else bset.rto
    rpo = bset.restore_test.rpo if bset.restore_test.rpo is not None else bset.rpo
    return rto, rpo


def measure(
    record: RestoreTestRecord,
    bset: BackupSet,
    runs: list[BackupRun],
    snapshot_time: datetime,
    now: datetime,
) -> None:
    rto_target, rpo_target = targets(bset)
    work = sum(v for k, v in record.durations.items() if k != "scratch_setup")
    record.measurements["rto"] = Measurement.of(work, rto_target)
    record.measurements["rpo"] = Measurement.of((now - snapshot_time).total_seconds(), rpo_target)
    gap = largest_gap(runs, now, bset.restore_test.period)
    if gap is not None:
        record.measurements["max_gap"] = Measurement.of(gap, rpo_target)
    labels = {
        "rto": "RTO target not met: restore and verification took",
        "rpo": "RPO target not met: the snapshot is",
        "max_gap": "RPO target not met: the largest gap between good backups in the period is",
    }
    for key, text in labels.items():
        found = record.measurements[key]
        if found.verdict == NOT_MET and found.seconds is not None:
            record.fail(
                f"{text} {format_duration(found.seconds)}, target "
                f"{format_duration(found.target_seconds or 0)}"
            )
