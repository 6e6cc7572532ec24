"""The RPO clock of a backup set: the newest good run, its age, against the set's RPO."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backups import manifest as mf
from backups.catalog import BackupRun
from backups.recovery_point import recovery_point
from backups.restic.snapshots import Snapshot
from orchestrator.inventory.models import BackupSet

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _run(run_id: str, age: timedelta, status: str) -> BackupRun:
    manifest = Snapshot(
        id=f"{run_id}-manifest",
        short_id=run_id,
        time=NOW - age,
        hostname="db-1",
        paths=("/manifest",),
        tags=(f"{mf.TAG_RUN}{run_id}", f"{mf.TAG_STATUS}{status}"),
    )
    return BackupRun(run_id, NOW - age, manifest)


def _set(rpo: int | None) -> BackupSet:
    # Only the name and the RPO matter to the clock.
    return BackupSet.model_construct(name="credit", rpo=rpo)


def test_the_clock_runs_from_the_newest_good_run_not_the_newest_run():
    runs = [
        _run("old", timedelta(hours=3), "ok"),
        _run("good", timedelta(hours=2), "ok"),
        _run("bad", timedelta(hours=1), "failed"),
    ]
    point = recovery_point(runs, _set(rpo=3 * 3600), NOW)
    assert point.newest_good is not None and point.newest_good.run_id == "good"
    assert point.age_seconds == 2 * 3600
    assert point.met is True


def test_a_recovery_point_older_than_the_rpo_is_not_met():
    point = recovery_point([_run("r", timedelta(minutes=11), "ok")], _set(rpo=600), NOW)
    assert (point.age_seconds, point.met) == (660, False)


def test_no_good_run_meets_no_rpo():
    point = recovery_point([_run("bad", timedelta(minutes=1), "failed")], _set(rpo=600), NOW)
    assert (point.newest_good, point.age_seconds, point.met) == (None, None, False)


def test_a_set_without_an_rpo_has_an_age_and_no_verdict():
    point = recovery_point([_run("r", timedelta(minutes=5), "ok")], _set(rpo=None), NOW)
    assert (point.age_seconds, point.met) == (300, None)


def test_a_run_stamped_in_the_future_counts_as_just_made():
    point = recovery_point([_run("r", timedelta(seconds=-30), "ok")], _set(rpo=600), NOW)
    assert (point.age_seconds, point.met) == (0, True)
