"""The regulator's and the business's clocks on incidents, on a controlled clock, with a
real journal (SQLite and PostgreSQL) and notices delivered to a real SMTP server:
graded-only regulator reports, the immediate report from a failed run, the fault report
and reporting days owed after close, manual-fallback tiers, re-entry per branch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.errors import EXIT_BAD_INPUT, IncidentClosed
from orchestrator.incidents import IncidentStore, Scope, handling
from orchestrator.incidents.checks import ScopeChange
from orchestrator.incidents.deadlines import open_deadlines
from orchestrator.incidents.handling import IncidentUpdate
from orchestrator.incidents.tick import tick
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.journal import Journal
from tests.support.identity import account
from tests.support.notify_receivers import SMTP_PASSWORD

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # Friday 09:00 in Asia/Shanghai
REGULATOR = {"regulator-initial", "written-report"}


def _no_wait(seconds: float) -> None:
    pass


def write_inventory(tmp_path: Path, smtp_port: int) -> Path:
    doc = {
        "name": "clocks-test",
        "environment": "drill",
        "sites": [
            {"name": "dc", "kind": "datacentre"},
            {"name": "branch-a", "kind": "branch"},
            {"name": "branch-b", "kind": "branch"},
        ],
        "contacts": [
            {
                "name": "duty-wang",
                "role": "duty-operator",
                "email": "wang@lab.invalid",
                "login": account(),  # the test's own OS account is the duty operator
            },
            {"name": "office-liu", "role": "emergency-office", "email": "liu@lab.invalid"},
            {"name": "director-li", "role": "leadership", "email": "li@lab.invalid"},
            {
                "name": "teller-chen",
                "role": "branch-manager",
                "site": "branch-a",
                "email": "chen@lab.invalid",
            },
            {"name": "teller-he", "role": "branch-manager", "site": "branch-b"},
        ],
        "escalation": {
            "blue": ["duty-wang"],
            "yellow": ["duty-wang"],
            "orange": ["duty-wang", "office-liu", "director-li"],
            "red": ["duty-wang", "office-liu", "director-li"],
        },
        "notifications": {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "dr@lab.invalid",
                "username": "dr-alerts",
                "allow_cleartext_login": True,
                "password": "env:C2_SMTP_PASSWORD",
            },
            "retries": 0,
        },
    }
    path = tmp_path / "clocks-test.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


@pytest.fixture
def mail(mailbox, monkeypatch):
    box, port = mailbox
    box.clear()
    monkeypatch.setenv("C2_SMTP_PASSWORD", SMTP_PASSWORD)
    return box, port


@pytest.fixture
def inventory(tmp_path, mail) -> Inventory:
    return load_inventory(write_inventory(tmp_path, mail[1]))


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/journal.sqlite3"
    else:
        url = request.getfixturevalue("postgres_db_url")
    j = Journal(url)
    yield j
    j.close()


@pytest.fixture
def store(journal):
    s = IncidentStore(journal)
    yield s
    s.dispose()


def _open(store: IncidentStore, inventory: Inventory, **fields):
    base = {
        "inventory_name": inventory.name,
        "inventory_path": None,
        "category": "network",
        "level": "blue",
        "summary": "branch line down",
        "actor": "duty-wang",
        "started_at": T0,
        "at": T0,
    }
    return store.open(**{**base, **fields})


def _keys(store: IncidentStore, incident_id: str, inventory: Inventory, now: datetime) -> set:
    return {d.key for d in open_deadlines(store.get(incident_id), inventory, now)}


def test_an_ungraded_line_fault_owes_the_regulator_nothing_a_grade_three_incident_does(
    journal, store, inventory
):
    line = _open(store, inventory, business_stopped=False)
    report = tick(journal, inventory, T0 + timedelta(minutes=55), sleep=_no_wait)
    assert store.get(line.id).grade is None
    assert not REGULATOR & _keys(store, line.id, inventory, T0 + timedelta(minutes=55))
    assert not any("deadline" in key for key in report.notices)

    province = _open(store, inventory, summary="a province's branches down",
                     scope=Scope(provinces=1))  # fmt: skip
    tick(journal, inventory, T0 + timedelta(minutes=50), sleep=_no_wait)
    assert store.get(province.id).grade == "III"
    found = {d.key: d for d in open_deadlines(store.get(province.id), inventory, T0)}
    # Counted from the incident's start, not from when it was graded.
    assert found["regulator-initial"].due == T0 + timedelta(minutes=60)
    assert found["written-report"].due == T0 + timedelta(hours=12)
    reminders = [n.key for n in store.notices(province.id) if n.kind == "deadline-remind"]
    assert reminders == [f"{province.id}:deadline:regulator-initial:remind"]


def test_a_failed_attached_run_starts_the_immediate_report_at_its_failure(
    journal, store, inventory, mail
):
    incident = _open(store, inventory, category="equipment", level="yellow",
                     summary="standby host alarm", started_at=None, at=None)  # fmt: skip
    engine = Engine(journal, RunbookRegistry.discover([DATA / "incident_runbooks"]))
    options = RunOptions(mode="drill", operator="duty-wang", incident_id=incident.id)
    outcome = engine.start("standby-check-fails", inventory, options)
    assert outcome.status == "failed"
    [run] = store.runs(incident.id)

    [failed] = journal.events(run.id, kinds=("run.failed",))

    now = datetime.now(UTC) + timedelta(seconds=5)
    tick(journal, inventory, now, sleep=_no_wait)
    current = store.get(incident.id)
    assert f"run {run.id} failed" in (current.aftermath.immediate_cause or "")
    [immediate] = [
        d for d in open_deadlines(current, inventory, now) if d.key == "immediate-report"
    ]
    # Dated at the failure, not at the tick that saw it.
    assert immediate.due == datetime.fromisoformat(failed.at).replace(microsecond=0)
    # Due at once: overdue at the next tick, told once, to the roster by mail.
    later = now + timedelta(minutes=1)
    tick(journal, inventory, later, sleep=_no_wait)
    tick(journal, inventory, later, sleep=_no_wait)
    overdue = [n for n in store.notices(incident.id) if n.key.endswith("immediate-report:overdue")]
    assert len(overdue) == 1 and overdue[0].status == "delivered"
    box, _ = mail
    assert any("立即报告" in m["Subject"] for m in box.to("wang@lab.invalid"))
    # The run was attached to a recovery: its outage days are reporting days.
    assert current.aftermath.reporting_days


def test_a_major_loss_starts_the_immediate_report_from_when_it_was_said(journal, store, inventory):
    handled = handling.open_incident(
        journal, inventory, category="equipment", level="orange", summary="vault system down",
        actor="duty-wang", started_at=T0, now=T0, sleep=_no_wait,
    )  # fmt: skip
    incident_id = handled.incident.id
    assert store.get(incident_id).aftermath.immediate_from is None
    said = T0 + timedelta(minutes=20)
    handling.update_incident(
        journal, incident_id, IncidentUpdate(scope=ScopeChange(impact="major-loss")),
        actor="duty-wang", now=said, sleep=_no_wait,
    )  # fmt: skip
    found = {d.key: d for d in open_deadlines(store.get(incident_id), inventory, said)}
    assert found["immediate-report"].due == said
    assert store.get(incident_id).grade == "I"  # and the regulator's clock runs from T0
    assert found["regulator-initial"].due == T0 + timedelta(minutes=60)
    overdue = [n.key for n in store.notices(incident_id) if n.kind == "deadline-overdue"]
    assert overdue == [f"{incident_id}:deadline:immediate-report:overdue"]


def test_the_fault_report_and_reporting_days_stay_owed_after_close_until_done(
    journal, store, inventory
):
    # A core-system outage from Friday 13 Feb 2026 08:00 CST over midnight.
    start = datetime(2026, 2, 13, 0, 0, tzinfo=UTC)
    handled = handling.open_incident(
        journal, inventory, category="system", level="yellow",
        summary="credit system down", actor="duty-wang", started_at=start, now=start,
        sleep=_no_wait,
    )  # fmt: skip
    incident_id = handled.incident.id
    tick(journal, inventory, start + timedelta(hours=17), sleep=_no_wait)  # 01:00 Saturday
    closed_at = start + timedelta(hours=18)
    handling.close_incident(
        journal, incident_id, actor="duty-wang", resolution="standby promoted", now=closed_at,
        sleep=_no_wait,
    )  # fmt: skip
    closed = store.get(incident_id)
    assert sorted(closed.aftermath.reporting_days) == ["2026-02-13", "2026-02-14"]
    found = {d.key: d for d in open_deadlines(closed, inventory, closed_at)}
    assert set(found) >= {
        "fault-report",
        "credit-submission-2026-02-13",
        "credit-submission-2026-02-14",
    }
    assert not REGULATOR & set(found)  # only while open, and it was never graded
    assert found["fault-report"].due == closed_at + timedelta(days=2)
    # Friday's business is due Saturday 14 Feb (a make-up working day), 17:00 CST;
    # Saturday's after the Spring Festival, Tuesday 24 Feb.
    assert found["credit-submission-2026-02-13"].due == datetime(2026, 2, 14, 9, tzinfo=UTC)
    assert found["credit-submission-2026-02-14"].due == datetime(2026, 2, 24, 9, tzinfo=UTC)

    # The tick still reminds of a closed incident's fault report.
    report = tick(journal, inventory, closed_at + timedelta(days=2, minutes=1), sleep=_no_wait)
    assert f"{incident_id}:deadline:fault-report:overdue" in report.notices

    # Marked done on the closed incident; anything else about it is refused.
    handling.update_incident(
        journal, incident_id,
        IncidentUpdate(deadlines_met=("fault-report", "credit-submission-2026-02-13")),
        actor="duty-wang", now=closed_at + timedelta(days=3), sleep=_no_wait,
    )  # fmt: skip
    left = _keys(store, incident_id, inventory, closed_at + timedelta(days=3))
    assert "fault-report" not in left and "credit-submission-2026-02-14" in left
    with pytest.raises(IncidentClosed):
        handling.update_incident(
            journal, incident_id, IncidentUpdate(note="late"), actor="duty-wang",
            now=closed_at + timedelta(days=3), sleep=_no_wait,
        )  # fmt: skip


def test_manual_fallback_notices_at_30_min_6_h_and_24_h_are_each_owed_once(
    journal, store, inventory, mail
):
    box, _ = mail
    incident = _open(store, inventory, category="system", level="yellow",
                     summary="credit system down")  # fmt: skip
    store.add_branches(incident.id, ["branch-a"], actor="duty-wang", at=T0)

    def fallback_keys() -> list[str]:
        return [n.key for n in store.notices(incident.id) if n.kind == "manual-fallback"]

    tick(journal, inventory, T0 + timedelta(minutes=29), sleep=_no_wait)
    assert fallback_keys() == []
    for moment in (T0 + timedelta(minutes=30), T0 + timedelta(minutes=31)):
        tick(journal, inventory, moment, sleep=_no_wait)
    assert fallback_keys() == [f"{incident.id}:manual-fallback:1"]
    [notice] = [m for m in box.to("chen@lab.invalid") if "手工操作" in m["Subject"]]
    body = notice.get_content()
    assert "第1级" in notice["Subject"] and "手工业务登记簿" in body and "branch-a" in body
    assert "科技部门" in body  # on the IT department's authority

    tick(journal, inventory, T0 + timedelta(hours=6), sleep=_no_wait)
    tick(journal, inventory, T0 + timedelta(hours=25), sleep=_no_wait)
    tick(journal, inventory, T0 + timedelta(hours=25), sleep=_no_wait)
    keys = fallback_keys()
    assert keys == [f"{incident.id}:manual-fallback:{n}" for n in (1, 2, 3)]
    # Each tier dated when the outage reached it, even when the tick came later.
    due = {n.key: n.due_at for n in store.notices(incident.id) if n.kind == "manual-fallback"}
    assert due[keys[2]] == (T0 + timedelta(hours=24)).isoformat()
    assert len([m for m in box.to("chen@lab.invalid") if "手工操作" in m["Subject"]]) == 3
    # teller-he works at branch-b, which this incident does not affect.
    sent = journal.events(kinds=("notification.sent",))
    assert not [e for e in sent if e.data.get("recipient") == "teller-he"]


def test_reentry_deadlines_close_when_every_branch_confirms(journal, store, inventory):
    incident = _open(store, inventory, category="system", level="yellow",
                     summary="credit system down")  # fmt: skip
    restored = T0 + timedelta(minutes=45)  # 09:45 CST, past the 30-min tier
    store.update(incident.id, actor="duty-wang", business_restored=True, at=restored)
    found = {d.key: d for d in open_deadlines(store.get(incident.id), inventory, restored)}
    # Important data the same day, all of it the next (end of the local day).
    assert found["reentry-important"].due == datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC)
    assert found["reentry-all"].due == datetime(2026, 11, 28, 15, 59, 59, tzinfo=UTC)
    assert found["reentry-important"].owed_by == ("branch-a", "branch-b")
    assert set(found["reentry-all"].notify) >= {"teller-chen", "teller-he", "duty-wang"}

    def confirm(branch: str, important_only: bool) -> None:
        handling.update_incident(
            journal, incident.id,
            IncidentUpdate(reentered=(branch,), important_only=important_only),
            actor="duty-wang", inventory=inventory, now=restored + timedelta(hours=1),
            sleep=_no_wait,
        )  # fmt: skip

    confirm("branch-a", True)
    found = {d.key: d for d in open_deadlines(store.get(incident.id), inventory, restored)}
    assert found["reentry-important"].owed_by == ("branch-b",)
    assert found["reentry-all"].owed_by == ("branch-a", "branch-b")
    store.close(incident.id, actor="duty-wang", resolution="restored", at=restored)
    confirm("branch-b", False)  # after close, still recorded
    confirm("branch-a", False)
    left = _keys(store, incident.id, inventory, restored)
    assert not {"reentry-important", "reentry-all"} & left


def test_lost_transactions_add_reporting_days_and_start_re_entry_at_their_branches(
    journal, store, inventory
):
    incident = _open(store, inventory, category="equipment", level="orange",
                     summary="primary host lost", business_stopped=False)  # fmt: skip
    listed = T0 + timedelta(hours=2)
    store.add_reporting_days(incident.id, [date(2026, 11, 27)], "lost-transactions",
                             branches=["branch-a"], at=listed)  # fmt: skip
    # The same days again from the same source change nothing.
    before = store.get(incident.id).version
    store.add_reporting_days(incident.id, [date(2026, 11, 27)], "lost-transactions", at=listed)
    assert store.get(incident.id).version == before
    found = {d.key: d for d in open_deadlines(store.get(incident.id), inventory, listed)}
    # Friday's business: due Monday 30 Nov, 17:00 CST.
    assert found["credit-submission-2026-11-27"].due == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert found["reentry-important"].owed_by == ("branch-a",)
    # Equipment orange: the emergency office within 1 h (001 §4.2.3), staff 30 min,
    # the leadership only "if needed".
    assert found["on-site-orange-60"].owed_by == ("office-liu",)
    assert found["on-site-orange-30"].owed_by == ("duty-wang",)
    assert not any(d.owed_by == ("director-li",) for d in found.values())


@pytest.fixture
def dr(tmp_path, mail):
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/cli.sqlite3",
        "DR_OPERATOR": "duty-wang",
        "COLUMNS": "250",  # the tables whole, as on a wide terminal
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", "incident", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_the_command_line_adds_reporting_days_confirms_re_entry_and_shows_zoned_times(
    tmp_path, dr, mail
):
    inv = str(write_inventory(tmp_path, mail[1]))
    opened = dr("open", "-i", inv, "--category", "network", "--summary", "line down",
                "--no-outage", "--json")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    incident_id = json.loads(opened.stdout)["id"]
    assert not REGULATOR & {d["key"] for d in json.loads(opened.stdout)["deadlines"]}

    added = dr("update", incident_id, "--reporting-day", "2026-02-13",
               "--reporting-day", "2027-03-05", "--branch", "branch-b")  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = dr("show", incident_id)
    assert shown.returncode == 0, shown.stderr
    assert "credit-submission-2026-02-13" in shown.stdout
    # The make-up Saturday, in local time with its offset (orchestrator/shown_times.py).
    assert "2026-02-14 17:00:00 UTC+08:00" in shown.stdout
    assert "calendar does not cover 2027" in shown.stdout
    doc = json.loads(dr("show", incident_id, "--json").stdout)
    [gap] = [d for d in doc["deadlines"] if d["note"]]
    assert gap["key"] == "credit-submission-2027-03-05" and "cn-workdays.yaml" in gap["note"]["en"]

    closed = dr("close", incident_id, "--resolution", "line repaired")
    assert closed.returncode == 0, closed.stderr
    done = dr("update", incident_id, "--done", "fault-report",
              "--done", "credit-submission-2026-02-13")  # fmt: skip
    assert done.returncode == 0, done.stderr
    keys = {d["key"] for d in json.loads(dr("show", incident_id, "--json").stdout)["deadlines"]}
    assert keys == {"credit-submission-2027-03-05"}

    bad = {
        ("update", incident_id, "--reporting-day", "13/02/2026"): "is not a date",
        ("update", incident_id, "--reentered", "branch-z"): "not a branch site",
        ("update", incident_id, "--done", "lunch"): "--done 'lunch'",
        ("update", incident_id, "--summary", "late"): "was closed",
    }
    for args, message in bad.items():
        result = dr(*args)
        assert result.returncode == EXIT_BAD_INPUT, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
