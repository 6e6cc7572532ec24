"""The parts of a postgres-pitr set's scheduling that need no server: its inventory fields
(`checks:`, `restore_test:`), the jobs the daemon makes of them, which repositories
the RPO watch reports, the restore test's choice of moment and its reading of where
PostgreSQL stopped replaying."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from backups.pitr.restore_test_point import choose_point, window_of
from backups.pitr.restore_test_scratch import _LAST, _STOPPING
from backups.pitr.watchdog import RepositoryFreshness, breaches
from orchestrator.errors import InventoryError, RestoreTestFailed
from orchestrator.inventory import load_inventory
from orchestrator.scheduler.daemon import job_specs

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory" / "example-production.yaml"
T0 = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def with_pitr_fields(tmp_path: Path, **fields: Any) -> Path:
    """The example inventory with fields added to its postgres-pitr set."""
    document = yaml.safe_load(EXAMPLE.read_text())
    for bset in document["backup_sets"]:
        if bset.get("kind") == "postgres-pitr":
            bset.update(fields)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def test_a_pitr_set_gets_backup_check_verify_and_restore_test_jobs(tmp_path) -> None:
    inventory = load_inventory(with_pitr_fields(
        tmp_path, checks={"check": "15 7 * * *"}, restore_test={"schedule": "0 4 * * 6#2"},
    ))  # fmt: skip
    specs = {spec.id: spec for spec in job_specs(inventory)}
    name = inventory.pitr_sets[0].name
    backup, check = specs[f"backup:{name}"], specs[f"check:{name}"]
    verify, test = specs[f"verify:{name}"], specs[f"restore-test:{name}"]
    assert backup.func.endswith("pitr_jobs:backup") and backup.args == (name,)
    assert {check.func, verify.func, test.func} == {
        "orchestrator.scheduler.pitr_jobs:check",
        "orchestrator.scheduler.pitr_jobs:verify",
        "orchestrator.scheduler.pitr_jobs:restore_test",
    }
    after = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)  # a Saturday, 20:00 in Shanghai

    def next_local(trigger: Any) -> datetime:
        """The next fire time, in the inventory's zone (the trigger's)."""
        fire = trigger.get_next_fire_time(None, after)
        assert fire is not None and fire.utcoffset() == timedelta(hours=8)
        return fire

    # One job on both base-backup schedules: Sunday's full and the weekdays' diff.
    assert (next_local(backup.trigger).weekday(), next_local(backup.trigger).hour) == (6, 1)
    assert (next_local(check.trigger).hour, next_local(check.trigger).minute) == (7, 15)
    assert (next_local(verify.trigger).weekday(), next_local(verify.trigger).hour) == (5, 3)
    second_saturday = next_local(test.trigger)
    assert (second_saturday.weekday(), 8 <= second_saturday.day <= 14) == (5, True)


def test_restore_test_fields_are_checked_with_what_to_write(tmp_path) -> None:
    with pytest.raises(InventoryError) as raised:
        load_inventory(with_pitr_fields(tmp_path, restore_test={"time_column": "at"}))
    assert "name it with writes_table" in str(raised.value)
    with pytest.raises(InventoryError) as raised:
        load_inventory(with_pitr_fields(tmp_path, restore_test={"writes_table": "a.b.c"}))
    assert "SCHEMA.NAME" in str(raised.value)
    loaded = load_inventory(with_pitr_fields(tmp_path, restore_test={
        "writes_table": "credit.repayments", "time_column": "paid_at", "in_flight": "2s",
    }))  # fmt: skip
    test = loaded.pitr_sets[0].restore_test
    assert (test.writes_table, test.id_column, test.time_column, test.in_flight) == (
        "credit.repayments", "id", "paid_at", 2,
    )  # fmt: skip
    assert loaded.pitr_sets[0].checks.verify == "0 3 * * 6"


def fresh(repository: int, age: float | None, *, backups: int = 1, error: str | None = None):
    return RepositoryFreshness(
        repository, f"place-{repository}", "000000010000000000000009", None, age, backups, error
    )


def test_the_rpo_watch_names_each_repository_that_proves_no_recent_point() -> None:
    found = [
        fresh(1, 12.0),
        fresh(2, 301.0),
        fresh(3, None, error="S3 endpoint refused the connection"),
        fresh(4, 3.0, backups=0),
    ]
    judged = {b.repository: b.message for b in breaches(found, 300)}
    assert sorted(judged) == [2, 3, 4]
    assert judged[2].startswith("repo2 (place-2): the newest archived WAL")
    assert "5m1s ago, RPO target 5m" in judged[2]
    assert "S3 endpoint refused the connection" in judged[3]
    assert "no base backup" in judged[4]


def listing(window_from: str | None, window_to: str | None) -> dict[str, Any]:
    backups = [
        {"label": "F1", "type": "full", "start": "2026-12-01T01:00:00+00:00",
         "stop": "2026-12-01T01:10:00+00:00"},
        {"label": "D1", "type": "diff", "start": "2026-12-02T01:00:00+00:00",
         "stop": "2026-12-02T01:02:00+00:00"},
    ]  # fmt: skip
    return {"repositories": [{
        "repository": 1, "location": "/srv/pgbackrest/credit", "backups": backups,
        "window": {"from": window_from, "to": window_to}, "newest_wal_age_seconds": 8.0,
        "error": None,
    }]}  # fmt: skip


def test_the_moment_lies_in_the_window_and_the_period_and_picks_its_backup() -> None:
    window = window_of(listing("2026-12-01T01:10:00+00:00", "2026-12-03T05:59:52+00:00"), 1)
    for seed in range(50):
        point = choose_point(window, now=T0, period_seconds=86400, rng=random.Random(seed))
        assert T0 - timedelta(days=1) <= point.moment <= window.end
        assert point.moment.microsecond % 1000 == 0
    early = choose_point(window, now=T0, period_seconds=10 * 86400, rng=random.Random(1))
    assert early.lowest == window.start + timedelta(seconds=1)
    assert window.backup_for(datetime(2026, 12, 1, 20, tzinfo=UTC)).label == "F1"
    assert window.backup_for(datetime(2026, 12, 2, 1, 3, tzinfo=UTC)).label == "D1"
    given = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    assert choose_point(window, now=T0, period_seconds=60, given=given).how == "given"
    with pytest.raises(RestoreTestFailed, match="outside repo1's recovery window"):
        choose_point(window, now=T0, period_seconds=60, given=T0)
    with pytest.raises(RestoreTestFailed, match="needs a base backup"):
        window_of(listing(None, None), 1)
    with pytest.raises(RestoreTestFailed, match="the set has 1 repositories"):
        window_of(listing(None, None), 2)


def test_where_postgresql_stopped_replaying_is_read_from_its_log() -> None:
    log = (
        "2026-12-04 00:21:33.101 UTC [11746] LOG:  recovery stopping before commit of "
        "transaction 796, time 2026-12-04 08:21:16.013119+08\n"
        "2026-12-04 00:21:33.102 UTC [11746] LOG:  last completed transaction was at log "
        "time 2026-12-04 00:21:15.884344+00\n"
    )
    stop = _STOPPING.search(log)
    assert stop is not None and (stop["where"], stop["xid"]) == ("before", "796")
    assert datetime.fromisoformat(stop["time"].strip()) == datetime(
        2026, 12, 4, 0, 21, 16, 13119, tzinfo=UTC
    )
    last = _LAST.search(log)
    assert last is not None and last["time"].strip().endswith("15.884344+00")
