"""Handling incidents without the command line, as the scheduler or a console would: each
use case checks, journals and notifies in one call. The inventory has no notification
channel, so what was owed is recorded and each delivery fails with "no channel" instead
of reaching a server (tests/integration/test_incidents.py covers real delivery)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import IncidentClosed, UserInputError
from orchestrator.incidents import IncidentStore, handling
from orchestrator.incidents.checks import ScopeChange
from orchestrator.incidents.handling import IncidentUpdate
from orchestrator.incidents.records import Incident
from orchestrator.incidents.tick import tick
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.journal import Journal

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=10)


def _no_wait(seconds: float) -> None:
    pass


def _write_inventory(path: Path, name: str) -> Inventory:
    doc = {
        "name": name,
        "environment": "drill",
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator"},
            {"name": "office-liu", "role": "emergency-office"},
            {"name": "director-li", "role": "leadership"},
        ],
        "escalation": {
            "blue": ["duty-wang"],
            "yellow": ["duty-wang"],
            "orange": ["duty-wang", "office-liu", "director-li"],
            "red": ["duty-wang", "office-liu", "director-li"],
        },
    }
    path.write_text(yaml.safe_dump(doc))
    return load_inventory(path)


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return _write_inventory(tmp_path / "handling.yaml", "handling-test")


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    yield j
    j.close()


@pytest.fixture
def store(journal: Journal):
    s = IncidentStore(journal)
    yield s
    s.dispose()


def _open(journal: Journal, inventory: Inventory) -> Incident:
    handled = handling.open_incident(
        journal,
        inventory,
        category="system",
        level="yellow",
        summary="core system slow",
        actor="duty-wang",
        started_at=T0,
        now=T0,
        sleep=_no_wait,
    )
    return handled.incident


def _update(journal: Journal, incident_id: str, **change) -> handling.Handled:
    return handling.update_incident(
        journal, incident_id, IncidentUpdate(**change), actor="duty-wang", now=LATER, sleep=_no_wait
    )


def _recipients(store: IncidentStore, incident_id: str, key: str) -> list[str]:
    [notice] = [n for n in store.notices(incident_id) if n.key == key]
    return notice.detail["recipients"]


def test_opening_records_the_inventory_and_tells_the_levels_roster_at_once(
    journal, inventory, store
):
    handled = handling.open_incident(
        journal,
        inventory,
        category="system",
        level="yellow",
        summary="core system slow",
        actor="duty-wang",
        now=T0,
        sleep=_no_wait,
    )
    incident = handled.incident
    assert incident.inventory_path == str(inventory.source_path.absolute())
    assert handled.notices.notices == [f"{incident.id}:level:yellow"]
    [delivery] = handled.notices.deliveries
    assert delivery["status"] == "failed" and "no channel" in delivery["errors"][0]
    assert _recipients(store, incident.id, f"{incident.id}:level:yellow") == ["duty-wang"]


def test_opening_refuses_an_unknown_category_or_level_before_writing(journal, inventory, store):
    with pytest.raises(UserInputError, match="--category 'power': use one of network"):
        handling.open_incident(
            journal, inventory, category="power", level="blue", summary="x", actor="wang"
        )
    with pytest.raises(UserInputError, match="--level 'purple': use one of blue, yellow"):
        handling.open_incident(
            journal, inventory, category="system", level="purple", summary="x", actor="wang"
        )
    assert store.incidents() == []


def test_raising_the_level_by_hand_is_journaled_and_tells_the_new_roster_at_once(
    journal, inventory, store
):
    incident = _open(journal, inventory)
    handled = _update(journal, incident.id, level="orange", reason="three branches down")
    assert (handled.incident.level, handled.incident.level_since) == ("orange", LATER)
    [change] = [e for e in store.timeline(incident.id) if e.kind == "incident.level_changed"]
    assert change.actor == "duty-wang"
    assert (change.data["cause"], change.data["reason"]) == ("manual", "three branches down")
    key = f"{incident.id}:level:orange"
    assert key in handled.notices.notices
    assert _recipients(store, incident.id, key) == ["duty-wang", "office-liu", "director-li"]


def test_a_person_may_lower_the_level_which_no_automatic_rule_does(journal, inventory, store):
    incident = _open(journal, inventory)
    assert _update(journal, incident.id, level="blue").incident.level == "blue"
    [change] = [e for e in store.timeline(incident.id) if e.kind == "incident.level_changed"]
    assert change.data["reason"] == "set by an operator"


def test_arrivals_deadlines_progress_scope_and_restoration_are_recorded_in_one_update(
    journal, inventory, store
):
    incident = _open(journal, inventory)
    handled = _update(
        journal,
        incident.id,
        summary="core system slow: index rebuild",
        scope=ScopeChange(provinces=1, branches_down=3, branches_total=40),
        on_site=("duty-wang",),
        deadlines_met=("regulator-initial",),
        progress="index rebuilt to 40 %",
        business_restored=True,
        note="vendor on the phone",
    )
    changed = handled.incident
    assert changed.summary == "core system slow: index rebuild"
    assert (changed.scope.provinces, changed.scope.branches_down) == (1, 3)
    assert changed.on_site.keys() == {"duty-wang"}
    assert changed.deadlines_met.keys() == {"regulator-initial"}
    assert changed.last_progress_at == LATER and changed.outage_ended_at == LATER
    kinds = [e.kind for e in store.timeline(incident.id)]
    for kind in ("updated", "on_site", "deadline_met", "progress"):
        assert f"incident.{kind}" in kinds


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"level": "purple"}, "--level 'purple': use one of blue"),
        ({"deadlines_met": ("lunch",)}, "--done 'lunch': use one of regulator-initial"),
        ({"on_site": ("nobody",)}, "--on-site 'nobody': not a contact in handling-test"),
        ({"scope": ScopeChange(branches_down=5, branches_total=3)}, "more than --branches-total"),
        ({"scope": ScopeChange(impact="some")}, "--impact 'some': use one of major-loss"),
    ],
)
def test_an_update_is_checked_whole_before_anything_is_written(
    journal, inventory, store, change, message
):
    incident = _open(journal, inventory)
    before = store.timeline(incident.id)
    with pytest.raises(UserInputError, match=message):
        _update(journal, incident.id, summary="a new summary", **change)
    assert store.timeline(incident.id) == before
    assert store.get(incident.id).summary == "core system slow"


def test_a_closed_incident_takes_no_update(journal, inventory):
    incident = _open(journal, inventory)
    handling.close_incident(
        journal,
        incident.id,
        actor="duty-wang",
        resolution="index rebuilt",
        now=LATER,
        sleep=_no_wait,
    )
    with pytest.raises(IncidentClosed, match="was closed"):
        _update(journal, incident.id, note="late")


def test_an_incident_is_changed_only_through_its_own_inventory(journal, inventory, tmp_path):
    incident = _open(journal, inventory)
    other = _write_inventory(tmp_path / "other.yaml", "other-bank")
    with pytest.raises(UserInputError, match="belongs to inventory 'handling-test', not 'other"):
        handling.update_incident(
            journal, incident.id, IncidentUpdate(note="x"), actor="wang", inventory=other
        )


def test_without_its_inventory_here_a_change_is_recorded_and_the_next_tick_sends_it(
    journal, inventory, store
):
    incident = store.open(
        inventory_name=inventory.name,
        inventory_path=None,
        category="system",
        level="yellow",
        summary="opened on another machine",
        actor="duty-wang",
        started_at=T0,
        at=T0,
    )
    handled = _update(journal, incident.id, level="orange", on_site=("not-checked-here",))
    assert handled.inventory is None and handled.notices.notices == []
    assert handled.incident.level == "orange" and store.notices(incident.id) == []
    # The scheduler's tick, where the inventory is, sends what is owed.
    report = tick(journal, inventory, LATER, sleep=_no_wait)
    assert f"{incident.id}:level:orange" in report.notices


def test_the_scheduler_can_pass_its_inventory_and_clock(journal, inventory, store):
    incident = _open(journal, inventory)
    handled = handling.update_incident(
        journal,
        incident.id,
        IncidentUpdate(level="red", reason="RPO breached for two hours"),
        actor="scheduler",
        inventory=inventory,
        now=LATER,
        sleep=_no_wait,
    )
    assert handled.inventory is inventory
    assert f"{incident.id}:level:red" in handled.notices.notices


def test_closing_tells_the_roster_at_once(journal, inventory):
    incident = _open(journal, inventory)
    handled = handling.close_incident(
        journal,
        incident.id,
        actor="duty-wang",
        resolution="index rebuilt",
        now=LATER,
        sleep=_no_wait,
    )
    assert handled.incident.status == "closed"
    assert f"{incident.id}:closed" in [d["key"] for d in handled.notices.deliveries]
