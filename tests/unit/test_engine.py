"""The engine, in-process, on runbooks whose effects are files the tests can read."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.cli.summary import print_measurements
from orchestrator.engine import Engine, RunbookRegistry, RunOptions, approvals
from orchestrator.engine.operator import Answer
from orchestrator.errors import (
    EXIT_FAILED,
    EXIT_STOPPED,
    ModeRefused,
    RunNotResumable,
    UserInputError,
)
from orchestrator.identity import Person
from orchestrator.incidents import IncidentStore
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.journal.run_document import run_document

DATA = Path(__file__).parent.parent / "data"


class ScriptedOperator:
    """Answers questions from a list, and remembers what it was asked."""

    interactive = False

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def ask_done(self, title: str, instructions: str, hosts: list[str]) -> Answer:
        self.asked.append(f"done? {title}: {instructions}")
        return self.answers.pop(0) if self.answers else Answer.UNAVAILABLE

    def ask_proceed(self, title: str, changes: list[str]) -> Answer:
        self.asked.append(f"proceed? {title}")
        return self.answers.pop(0) if self.answers else Answer.UNAVAILABLE

    def wait_notice(self, message: str) -> None:
        self.asked.append(message)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path}/journal.sqlite3")


@pytest.fixture
def registry() -> RunbookRegistry:
    return RunbookRegistry.discover([DATA / "runbooks"])


@pytest.fixture
def drill_inventory():
    return load_inventory(DATA / "engine-drill.yaml")


@pytest.fixture
def effects(tmp_path: Path) -> Path:
    return tmp_path / "effects.log"


def _engine(journal: Journal, registry: RunbookRegistry, operator=None) -> Engine:
    return Engine(journal, registry, operator_io=operator or ScriptedOperator())


def _person(name: str) -> Person:
    return Person(contact=name, role="leadership", login=None, proof=f"os-account:{name}")


def _options(mode: str = "drill", **params) -> RunOptions:
    return RunOptions(
        mode=mode,
        operator="duty-wang",
        params={k: str(v) for k, v in params.items()},
        reason="test" if mode == "live" else None,
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_retries_with_backoff_until_the_action_succeeds(
    journal, registry, drill_inventory, effects
):
    outcome = _engine(journal, registry).start(
        "flaky-action", drill_inventory, _options(effects=effects)
    )
    assert outcome.status == "succeeded"
    assert _lines(effects).count("attempt") == 3
    [step] = journal.steps(outcome.run_id)
    assert (step.status, step.attempts, step.result) == ("succeeded", 3, "third time lucky")
    failures = journal.events(outcome.run_id, kinds=("step.attempt_failed",))
    assert [e.data["attempt"] for e in failures] == [1, 2]


def test_a_step_that_outlives_its_timeout_fails_the_run(
    journal, registry, drill_inventory, effects
):
    outcome = _engine(journal, registry).start(
        "slow-action", drill_inventory, _options(effects=effects)
    )
    assert outcome.status == "failed" and outcome.exit_code == EXIT_FAILED
    steps = {s.step_id: s for s in journal.steps(outcome.run_id)}
    assert steps["sleepy"].status == "failed"
    assert "timed out after 0.3s" in steps["sleepy"].error
    assert "after-sleepy" not in steps
    assert "after" not in _lines(effects)


def test_failed_check_fails_with_its_detail(journal, registry, drill_inventory, effects):
    outcome = _engine(journal, registry).start(
        "checks", drill_inventory, _options(effects=effects, pass_check=False)
    )
    assert outcome.status == "failed"
    [step] = journal.steps(outcome.run_id)
    assert step.error == "check failed: as the parameter says"


def test_wait_until_polls_until_the_condition_has_held(journal, registry, drill_inventory, effects):
    outcome = _engine(journal, registry).start("checks", drill_inventory, _options(effects=effects))
    assert outcome.status == "succeeded"
    wait = {s.step_id: s for s in journal.steps(outcome.run_id)}["becomes-true"]
    # true from the third poll on, and it had to stay true for 0.3 s at 0.05 s intervals
    assert wait.result["polls"] >= 5
    assert wait.result["waited_s"] >= 0.3


def test_wait_until_gives_up_at_its_timeout(journal, registry, drill_inventory):
    outcome = _engine(journal, registry).start("never-true", drill_inventory, _options())
    assert outcome.status == "failed"
    [step] = journal.steps(outcome.run_id)
    assert step.error.startswith("condition not met within 0.5s")
    assert step.error.endswith("still false")
    # The wait's last verdict was said in both languages: its Chinese is kept beside.
    assert step.result["error_zh"].startswith("0.5 秒内检查 ")
    assert step.result["error_zh"].endswith("次，条件仍未满足：仍不成立")


def test_fan_out_runs_every_host_and_records_each_result(
    journal, registry, drill_inventory, effects
):
    outcome = _engine(journal, registry).start(
        "fanout", drill_inventory, _options(effects=effects, fail_host="app-2", sleep=0.2)
    )
    assert outcome.status == "failed"
    doc = run_document(journal, outcome.run_id)
    [step] = doc["steps"]
    by_host = {h["host"]: h for h in step["hosts"]}
    assert {h: r["status"] for h, r in by_host.items()} == {
        "app-1": "succeeded",
        "app-2": "failed",
        "app-3": "succeeded",
    }
    assert by_host["app-2"]["error"] == "RuntimeError: app-2 refused"
    assert by_host["app-1"]["result"] == {"host": "app-1"}
    # in parallel: three 0.2 s hosts overlap in time
    starts = sorted(h["started_at"] for h in step["hosts"])
    ends = sorted(h["finished_at"] for h in step["hosts"])
    assert starts[-1] < ends[0]


def test_resume_after_a_failed_host_runs_only_that_host(
    journal, registry, drill_inventory, effects
):
    engine = _engine(journal, registry)
    first = engine.start("fanout", drill_inventory, _options(effects=effects, fail_host="app-2"))
    assert first.status == "failed"
    # the operator fixes app-2; the recorded parameter still names it, so lift it by hand:
    # resume must re-run app-2 only (its verify shows it has not taken effect)
    journal_params = journal.get_run(first.run_id).params
    assert journal_params["fail_host"] == "app-2"
    Path(effects).write_text(Path(effects).read_text() + "touched:app-2\n")
    second = engine.resume(first.run_id, drill_inventory, _options())
    assert second.status == "succeeded"
    assert _lines(effects).count("touched:app-1") == 1
    assert _lines(effects).count("touched:app-3") == 1
    step = run_document(journal, first.run_id)["steps"][0]
    app2 = next(h for h in step["hosts"] if h["host"] == "app-2")
    assert app2["result"]["already_in_effect"] is True


def test_rollback_undoes_completed_steps_in_reverse(journal, registry, drill_inventory, effects):
    outcome = _engine(journal, registry).start(
        "rollback-all", drill_inventory, _options(effects=effects)
    )
    assert outcome.status == "rolled_back" and outcome.exit_code == EXIT_FAILED
    assert _lines(effects) == ["do:first", "undo:second", "undo:first"]
    with pytest.raises(RunNotResumable):
        _engine(journal, registry).resume(outcome.run_id, drill_inventory, _options())


def test_conditions_choose_the_branch_from_remembered_facts(
    journal, registry, drill_inventory, effects
):
    outcome = _engine(journal, registry).start(
        "branching", drill_inventory, _options(effects=effects)
    )
    assert outcome.status == "succeeded"
    assert _lines(effects) == ["line"]
    statuses = {s.step_id: s.status for s in journal.steps(outcome.run_id)}
    assert statuses["replace-device"] == "skipped"
    assert statuses["switch-line"] == "succeeded"


def test_sub_runbook_steps_run_in_place_with_prefixed_ids(
    journal, registry, drill_inventory, effects
):
    outcome = _engine(journal, registry).start("parent", drill_inventory, _options(effects=effects))
    assert outcome.status == "succeeded"
    assert _lines(effects) == ["child:from-parent", "parent-last"]
    assert [s.step_id for s in journal.steps(outcome.run_id)] == ["sub/child-step", "last"]


def test_an_include_condition_reads_the_including_runbooks_parameters(
    journal, registry, drill_inventory, effects
):
    outcome = _engine(journal, registry).start(
        "parent", drill_inventory, _options(effects=effects, skip_sub="yes")
    )
    assert outcome.status == "succeeded"
    assert _lines(effects) == ["parent-last"]
    statuses = {s.step_id: s.status for s in journal.steps(outcome.run_id)}
    assert statuses == {"sub/child-step": "skipped", "last": "succeeded"}


def test_markers_measure_rto_and_rpo_against_the_targets(journal, registry, drill_inventory):
    outcome = _engine(journal, registry).start(
        "measured", drill_inventory, _options(lost_minutes_ago=40, data_minutes_before=2)
    )
    doc = run_document(journal, outcome.run_id)
    rto, rpo = doc["measurements"]["rto_seconds"], doc["measurements"]["rpo_seconds"]
    assert 40 * 60 <= rto["value"] < 40 * 60 + 30
    assert (rto["target"], rto["met"], rto["verdict"]) == (1800, False, "not met")
    assert rpo["value"] == pytest.approx(120, abs=0.01)
    assert (rpo["target"], rpo["met"]) == (300, True)
    assert rpo["detail"]["data_point_source"] == "test data point"
    assert rpo["detail"]["data_point_source_zh"] == "测试数据点"
    # The operator reads where the RPO's data point came from in the language chosen.
    for lang, said, other in (
        ("zh", "数据点来自 测试数据点", "test data"),
        ("en", "data point from test data point", "测试"),
    ):
        console = Console(file=io.StringIO(), width=200)
        print_measurements(console, doc["measurements"], lang)
        printed = console.file.getvalue()
        assert said in printed and other not in printed, printed


def test_the_incidents_outage_start_is_when_service_was_lost_when_earlier(
    journal, registry, drill_inventory
):
    store = IncidentStore(journal)
    began = datetime.now(UTC) - timedelta(minutes=50)
    incident = store.open(
        inventory_name=drill_inventory.name,
        inventory_path=None,
        category="equipment",
        level="orange",
        summary="both hosts down",
        actor="duty-wang",
        started_at=began,
    )
    options = _options(lost_minutes_ago=40, data_minutes_before=2)
    options.incident_id = incident.id
    outcome = _engine(journal, registry).start("measured", drill_inventory, options)
    doc = run_document(journal, outcome.run_id)
    rto, rpo = doc["measurements"]["rto_seconds"], doc["measurements"]["rpo_seconds"]
    # The runbook saw the loss 40 minutes ago; the incident says business stopped 50.
    assert 50 * 60 <= rto["value"] < 50 * 60 + 30
    assert rto["detail"]["lost_at_source"] == f"incident {incident.id}"
    # The newest data (42 minutes ago) is younger than the outage: nothing was lost.
    assert rpo["value"] == 0


def test_the_service_watch_starts_and_stops_the_clock_when_it_saw_the_outage(
    journal, registry, drill_inventory
):
    """The watch saw svc go down from branch-1 a minute before the run; the run's clock
    starts there, and stops when the watch saw it back, before the runbook verified."""
    down_at = datetime.now(UTC) - timedelta(seconds=60)
    where = {"service": "svc", "vantage": "branch-1"}
    journal.append("service.down", data={**where, "at": down_at.isoformat(), "error": "x"})
    # Another service, and another branch of a scope that names one: neither counts.
    earlier = (down_at - timedelta(seconds=30)).isoformat()
    journal.append("service.down", data={"service": "other", "vantage": "branch-1", "at": earlier})
    journal.append("service.down", data={"service": "svc", "vantage": "branch-2", "at": earlier})
    outcome = _engine(journal, registry).start("watched", drill_inventory, _options())
    rto = run_document(journal, outcome.run_id)["measurements"]["rto_seconds"]
    detail = rto["detail"]
    assert datetime.fromisoformat(detail["lost_at"]) == down_at
    assert detail["lost_at_source"].startswith("service watch: first failed probe from branch-1")
    assert detail["restored_at_source"].startswith("service watch: first passing probe")
    restored = datetime.fromisoformat(detail["restored_at"])
    assert restored < datetime.fromisoformat(detail["verified_at"])
    assert rto["value"] == pytest.approx((restored - down_at).total_seconds(), abs=0.01)


def test_an_outage_the_watch_stopped_watching_does_not_start_the_clock(
    journal, registry, drill_inventory
):
    down_at = datetime.now(UTC) - timedelta(seconds=60)
    where = {"service": "svc", "vantage": "branch-1"}
    journal.append("service.down", data={**where, "at": down_at.isoformat(), "error": "x"})
    journal.append("service_watch.stopped", data={"targets": ["svc from branch-1"]})
    outcome = _engine(journal, registry).start("watched", drill_inventory, _options())
    detail = run_document(journal, outcome.run_id)["measurements"]["rto_seconds"]["detail"]
    assert detail["lost_at_source"] == "marker"


def test_manual_step_pauses_without_a_person_then_resumes_with_one(
    journal, registry, drill_inventory, effects
):
    nobody = _engine(journal, registry, ScriptedOperator())
    first = nobody.start("people", drill_inventory, _options(effects=effects))
    assert (first.status, first.exit_code) == ("waiting", 4)
    assert "dr resume" in first.message

    person = ScriptedOperator(Answer.YES)
    second = _engine(journal, registry, person).resume(first.run_id, drill_inventory, _options())
    assert person.asked[0] == "done? Call the branches: Phone every branch."
    # now at the approval, which nobody has given yet
    assert (second.status, second.exit_code) == ("waiting", 4)
    assert "dr approve" in second.message
    manual = {s.step_id: s for s in journal.steps(first.run_id)}["call-branches"]
    assert manual.result == {"confirmed_by": "duty-wang"}


def test_approval_must_come_from_a_role_holder_who_did_not_start_the_run(
    journal, registry, drill_inventory, effects
):
    engine = _engine(journal, registry, ScriptedOperator(Answer.YES))
    run_id = engine.start("people", drill_inventory, _options(effects=effects)).run_id
    with pytest.raises(UserInputError, match="cannot also approve"):
        approvals.approve(journal, drill_inventory, run_id, "leadership-ok", _person("duty-wang"))
    with pytest.raises(UserInputError, match="by role 'leadership'"):
        approvals.approve(journal, drill_inventory, run_id, "leadership-ok", _person("nobody"))
    approvals.approve(journal, drill_inventory, run_id, "leadership-ok", _person("director-li"))
    outcome = engine.resume(run_id, drill_inventory, _options())
    assert outcome.status == "succeeded"
    step = {s.step_id: s for s in journal.steps(run_id)}["leadership-ok"]
    assert step.result["approved_by"] == "director-li"
    assert _lines(effects) == ["approved-work"]


def test_operator_declining_a_manual_step_aborts_with_exit_3(
    journal, registry, drill_inventory, effects
):
    outcome = _engine(journal, registry, ScriptedOperator(Answer.NO)).start(
        "people", drill_inventory, _options(effects=effects)
    )
    assert (outcome.status, outcome.exit_code) == ("aborted", EXIT_STOPPED)


def test_auto_confirm_is_recorded_as_such(journal, registry, drill_inventory, effects):
    options = _options(effects=effects)
    options.auto_confirm = True
    outcome = _engine(journal, registry).start("people", drill_inventory, options)
    assert outcome.status == "succeeded"
    steps = {s.step_id: s for s in journal.steps(outcome.run_id)}
    assert steps["call-branches"].result == {"confirmed_by": "auto-confirm (drill)"}
    # Approved by the inventory's drill roster (drill.auto_approve_by), not by "nobody".
    assert steps["leadership-ok"].result["approved_by"] == "director-li"
    assert steps["leadership-ok"].result["proof"] == "drill-roster:auto-confirm"


def test_auto_confirm_without_a_drill_roster_waits_for_the_approval(
    journal, registry, drill_inventory, effects
):
    without = drill_inventory.model_copy(update={"drill": type(drill_inventory.drill)()})
    options = _options(effects=effects)
    options.auto_confirm = True
    outcome = _engine(journal, registry).start("people", without, options)
    assert (outcome.status, outcome.exit_code) == ("waiting", 4)
    assert approvals.find(journal, outcome.run_id, "leadership-ok") is None


def test_a_forged_approval_event_is_not_obeyed(journal, registry, drill_inventory, effects):
    """An approval written straight into the journal, naming the starter or someone off
    the roster, or without proof, is rejected by the engine's re-check."""
    engine = _engine(journal, registry, ScriptedOperator(Answer.YES))
    run_id = engine.start("people", drill_inventory, _options(effects=effects)).run_id
    digest = journal.get_run(run_id).inventory_digest
    [roster] = journal.events(run_id, kinds=("approval.roster",))
    forged = {"roster_seq": roster.seq, "inventory_digest": digest, "proof": "os-account:x"}
    for actor, data in [
        ("duty-wang", forged),  # the starter
        ("nobody", forged),  # off the roster
        ("director-li", {**forged, "proof": ""}),  # no proof
        ("director-li", {**forged, "proof": "one-time-code:0123456789abcdef"}),  # unredeemed
        ("director-li", {**forged, "proof": "console:0123456789abcdef"}),  # no such session
        ("director-li", {**forged, "inventory_digest": "0" * 64}),  # another inventory
    ]:
        journal.append("approval", run_id=run_id, step_id="leadership-ok", actor=actor, data=data)
    outcome = engine.resume(run_id, drill_inventory, _options())
    assert (outcome.status, outcome.exit_code) == ("waiting", 4)
    rejected = journal.events(run_id, kinds=("approval.rejected",))
    assert len(rejected) == 6
    assert not effects.exists() or "approved-work" not in _lines(effects)


def test_mode_rules_refuse_the_wrong_inventory(journal, registry, drill_inventory):
    production = load_inventory(DATA / "engine-production.yaml")
    engine = _engine(journal, registry)
    with pytest.raises(ModeRefused, match="environment: production"):
        engine.start("checks", production, _options("drill"))
    with pytest.raises(ModeRefused, match="environment: drill"):
        engine.start("checks", drill_inventory, _options("live"))
    no_reason = _options("live")
    no_reason.reason = None
    with pytest.raises(ModeRefused, match="--reason"):
        engine.start("checks", production, no_reason)
    auto_live = _options("live")
    auto_live.auto_confirm = True
    with pytest.raises(ModeRefused, match="--auto-confirm"):
        engine.start("checks", production, auto_live)
    assert journal.list_runs() == []


def test_resume_refuses_a_changed_runbook_unless_allowed(
    journal, registry, drill_inventory, effects
):
    first = _engine(journal, registry).start(
        "fanout", drill_inventory, _options(effects=effects, fail_host="app-1")
    )
    registry.get("fanout").digest = "changed"
    with pytest.raises(RunNotResumable, match="has changed"):
        _engine(journal, registry).resume(first.run_id, drill_inventory, _options())
    outcome = _engine(journal, registry).resume(
        first.run_id, drill_inventory, _options(), allow_changed=True
    )
    assert outcome.status == "failed"  # app-1 still refuses: the parameter still names it


def test_a_wait_can_take_its_hold_from_a_parameter(journal, registry, drill_inventory):
    outcome = _engine(journal, registry).start("held-by-param", drill_inventory, _options(hold=0.4))
    assert outcome.status == "succeeded"
    [step] = journal.steps(outcome.run_id)
    assert step.result["waited_s"] >= 0.4
