"""The inventory's `systems:` (recovery order, references checked with lines) and the
recovery point an operator asks a restore for."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from backups.pitr.point import parse_moment, requested_point
from orchestrator.errors import UserInputError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.systems import System, recovery_order

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory" / "example-production.yaml"


def _system(name: str, priority: int = 3, depends_on: list[str] | None = None) -> System:
    return System.model_validate(
        {
            "name": name,
            "priority": priority,
            "depends_on": depends_on or [],
            "recover": {"manual": {"zh": "人工", "en": "by hand"}},
        }
    )


def test_order_follows_dependencies_then_priority_then_the_order_written() -> None:
    systems = [
        _system("gateway", priority=1, depends_on=["service"]),
        _system("service", priority=2, depends_on=["db"]),
        _system("db", priority=3),
        _system("mail", priority=1),
        _system("portal", priority=3),
    ]
    order = [s.name for s in recovery_order(systems)]
    # mail (group 1) first; db before service before gateway whatever their groups.
    assert order == ["mail", "db", "service", "gateway", "portal"]


def test_a_dependency_circle_is_named() -> None:
    systems = [_system("a", depends_on=["b"]), _system("b", depends_on=["a"])]
    with pytest.raises(UserInputError, match="circle"):
        recovery_order(systems)


def test_the_example_inventory_recovers_the_database_first() -> None:
    inventory = load_inventory(EXAMPLE)
    assert [s.name for s in inventory.systems_in_recovery_order()] == [
        "credit-db",
        "credit-report",
        "report-gateway",
    ]
    # A restore's own objectives are its backup set's (rto, rpo); the targets are per
    # system, named as the runbooks name theirs.
    assert {t.procedure for t in inventory.targets} >= {"dual-host-switchover"}


def _with_systems(tmp_path: Path, systems: list[dict[str, object]]) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["systems"] = systems
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    ("systems", "message"),
    [
        (
            [{"name": "db", "recover": {"database": "credit-db"}}],
            "kind restic; recover: database needs a postgres-pitr set",
        ),
        ([{"name": "db", "recover": {"database": "no-such-set"}}], "no backup set named"),
        ([{"name": "svc", "recover": {"service": "nope"}}], "no host pair named 'nope'"),
        (
            [{"name": "svc", "depends_on": ["ghost"], "recover": {"service": "credit"}}],
            "no system named 'ghost'",
        ),
        (
            [
                {"name": "a", "depends_on": ["b"], "recover": {"service": "credit"}},
                {"name": "b", "depends_on": ["a"], "recover": {"service": "credit"}},
            ],
            "circle (a -> b -> a)",
        ),
        ([{"name": "x", "recover": {"reboot": "it"}}], "'recover:' needs one of"),
    ],
)
def test_bad_systems_are_reported_with_what_to_do(
    tmp_path: Path, systems: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(UserInputError) as caught:
        load_inventory(_with_systems(tmp_path, systems))
    assert message in caught.value.message
    assert re.search(r"inventory\.yaml:\d+: systems\[", caught.value.message)


SHANGHAI = "Asia/Shanghai"


def test_a_time_without_zone_is_the_inventory_s() -> None:
    point = requested_point("2026-12-03 14:32:00", None, None, SHANGHAI)
    assert point.moment == datetime(2026, 12, 3, 14, 32, tzinfo=ZoneInfo(SHANGHAI))
    assert point.target.type == "time"
    assert not point.target.exclusive
    assert parse_moment("2026-12-03T06:32:00+00:00", SHANGHAI) == datetime(
        2026, 12, 3, 6, 32, tzinfo=UTC
    )


def test_before_a_transaction_is_exclusive_and_latest_is_the_default() -> None:
    point = requested_point("latest", "123456", "", SHANGHAI)
    assert (point.target.type, point.target.target, point.target.exclusive) == (
        "xid",
        "123456",
        True,
    )
    assert requested_point("", None, None, SHANGHAI).target.type == "default"
    lsn = requested_point(None, None, "0/3a000060", SHANGHAI)
    assert (lsn.target.type, lsn.target.target, lsn.target.exclusive) == ("lsn", "0/3A000060", True)


@pytest.mark.parametrize(
    ("to", "xid", "lsn", "message"),
    [
        ("2026-12-03 14:32", "5", None, "give one recovery point"),
        ("yesterday", None, None, "is not a time"),
        (None, "12a", None, "not a transaction id"),
        (None, None, "nowhere", "not an LSN"),
    ],
)
def test_bad_points_say_what_to_write(to: object, xid: object, lsn: object, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        requested_point(to, xid, lsn, SHANGHAI)
