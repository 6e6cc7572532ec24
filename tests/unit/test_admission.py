"""Run admission, called as any caller would (the CLI, the scheduler, a console): each rule
refuses with a message that says what to do instead, and nothing is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.engine.admission import admit_run
from orchestrator.errors import IncidentClosed, IncidentNotFound, JournalKeyMissing, ModeRefused
from orchestrator.incidents import IncidentStore
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.journal import Journal
from orchestrator.journal.key import JournalKey

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal(f"sqlite:///{tmp_path}/journal.sqlite3", JournalKey(b"k" * 32, "test"))
    yield j
    j.close()


@pytest.fixture
def drill() -> Inventory:
    return load_inventory(DATA / "engine-drill.yaml")


@pytest.fixture
def production() -> Inventory:
    return load_inventory(DATA / "engine-production.yaml")


def _options(mode: str, **changes) -> RunOptions:
    return RunOptions(mode=mode, operator="duty-wang", **changes)


def _incident(journal: Journal, inventory: Inventory, *, closed: bool = False) -> str:
    store = IncidentStore(journal)
    try:
        incident = store.open(
            inventory_name=inventory.name,
            inventory_path=None,
            category="system",
            level="yellow",
            summary="core system slow",
            actor="duty-wang",
        )
        if closed:
            store.close(incident.id, actor="duty-wang", resolution="index rebuilt")
        return incident.id
    finally:
        store.dispose()


def test_a_drill_on_a_drill_inventory_is_admitted_and_joins_no_incident(journal, drill):
    assert admit_run(_options("drill", auto_confirm=True), drill, journal) is None


def test_a_live_run_with_a_reason_on_production_is_admitted(journal, production):
    assert admit_run(_options("live", reason="core switch died"), production, journal) is None


def test_a_live_run_is_refused_without_the_journal_key(tmp_path, production):
    unkeyed = Journal(f"sqlite:///{tmp_path}/unkeyed.sqlite3")
    with pytest.raises(JournalKeyMissing, match="dr journal init-key"):
        admit_run(_options("live", reason="core switch died"), production, unkeyed)
    assert admit_run(_options("drill"), load_inventory(DATA / "engine-drill.yaml"), unkeyed) is None
    unkeyed.close()


def test_a_drill_is_refused_on_a_production_inventory(journal, production):
    with pytest.raises(ModeRefused) as refused:
        admit_run(_options("drill"), production, journal)
    message = refused.value.message
    assert "'engine-test-production' is marked environment: production" in message
    assert "Use the drill inventory, or `dr run` for a real emergency" in message


def test_a_live_run_is_refused_on_a_drill_inventory(journal, drill):
    with pytest.raises(ModeRefused, match=r"acts on production only\. Rehearse with `dr drill`"):
        admit_run(_options("live", reason="x"), drill, journal)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_live_run_is_refused_without_a_reason_or_an_incident(journal, production, reason):
    with pytest.raises(ModeRefused, match="needs --reason TEXT or --incident ID"):
        admit_run(_options("live", reason=reason), production, journal)


def test_auto_confirm_is_refused_outside_a_drill(journal, production):
    options = _options("live", reason="x", auto_confirm=True)
    with pytest.raises(ModeRefused, match="must be confirmed by a person"):
        admit_run(options, production, journal)


def test_a_plan_is_never_admitted_as_a_run(journal, drill):
    with pytest.raises(ModeRefused, match="a plan is never run: `dr plan` shows the steps"):
        admit_run(_options("plan"), drill, journal)


def test_an_unknown_mode_is_refused_naming_the_run_modes(journal, production):
    with pytest.raises(ModeRefused, match="no run mode 'Live': a run is a drill"):
        admit_run(_options("Live", reason="x"), production, journal)


def test_a_live_run_joining_an_open_incident_needs_no_reason(journal, production):
    incident_id = _incident(journal, production)
    joined = admit_run(_options("live", incident_id=incident_id), production, journal)
    assert joined is not None and joined.id == incident_id and joined.is_open


def test_a_run_joining_a_closed_incident_is_refused(journal, production):
    incident_id = _incident(journal, production, closed=True)
    with pytest.raises(
        IncidentClosed, match=r"was closed at .*; open a new one with `dr incident open`"
    ):
        admit_run(_options("live", incident_id=incident_id), production, journal)


def test_a_run_joining_an_unknown_incident_is_refused(journal, drill):
    with pytest.raises(IncidentNotFound, match=r"no incident 'INC-NOPE'.*`dr incident list`"):
        admit_run(_options("drill", incident_id="INC-NOPE"), drill, journal)


def test_the_mode_is_refused_before_the_incident_is_looked_up(journal, production):
    # The first thing wrong is the thing to fix: a drill on production, not the incident.
    with pytest.raises(ModeRefused, match="environment: production"):
        admit_run(_options("drill", incident_id="INC-NOPE"), production, journal)


def test_the_engine_admits_by_the_same_rules_and_records_nothing_it_refuses(journal, drill):
    # A caller that skips admit_run (the scheduler, a console) still gets every rule.
    engine = Engine(journal, RunbookRegistry.discover([DATA / "runbooks"]))
    incident_id = _incident(journal, drill, closed=True)
    with pytest.raises(IncidentClosed):
        engine.start("checks", drill, _options("drill", incident_id=incident_id))
    with pytest.raises(ModeRefused, match="a plan is never run"):
        engine.start("checks", drill, _options("plan"))
    assert journal.list_runs() == []
