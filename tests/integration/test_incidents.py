"""Incidents escalate on a controlled clock and their notices reach a real SMTP server and
a real HTTP receiver (generic JSON, WeCom, DingTalk and Feishu bots, signatures checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from orchestrator.engine import Engine, RunbookRegistry, RunOptions, approvals
from orchestrator.errors import EXIT_BAD_INPUT, IncidentClosed, UserInputError
from orchestrator.identity import Person
from orchestrator.incidents import IncidentStore, Scope
from orchestrator.incidents.tick import tick
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.scheduler import jobs
from orchestrator.scheduler.daemon import job_specs
from tests.support.identity import account
from tests.support.notify_receivers import (
    DINGTALK_SECRET,
    FEISHU_SECRET,
    SMTP_PASSWORD,
)

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data"
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


@pytest.fixture
def receivers(mailbox, http_receiver):
    box, port = mailbox
    box.clear()
    http_receiver.clear()
    return box, port, http_receiver


@pytest.fixture
def secrets_env(monkeypatch, receivers):
    _, _, http = receivers
    monkeypatch.setenv("C1_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("C1_GENERIC_URL", http.url("/generic"))
    monkeypatch.setenv("C1_WECOM_URL", http.url("/wecom?key=bot-token"))
    monkeypatch.setenv("C1_DINGTALK_URL", http.url("/dingtalk?access_token=bot-token"))
    monkeypatch.setenv("C1_DINGTALK_SECRET", DINGTALK_SECRET)
    monkeypatch.setenv("C1_FEISHU_URL", http.url("/feishu"))
    monkeypatch.setenv("C1_FEISHU_SECRET", FEISHU_SECRET)
    monkeypatch.setenv("C1_FLAKY_URL", http.url("/flaky"))


def write_inventory(tmp_path: Path, smtp_port: int, webhooks: list[dict] | None = None) -> Path:
    doc = {
        "name": "incident-test",
        "environment": "drill",
        "contacts": [
            {
                "name": "duty-wang",
                "role": "duty-operator",
                "email": "wang@lab.invalid",
                "wecom": "wangwei",
                "phone": "13800000001",
                "login": account(),  # the test's own OS account is the duty operator
            },
            {
                "name": "tech-zhang",
                "role": "tech-team",
                "email": "zhang@lab.invalid",
                "dingtalk": "zhang01",
                "language": "en",
            },
            {"name": "office-liu", "role": "emergency-office", "email": "liu@lab.invalid"},
            {
                "name": "director-li",
                "role": "leadership",
                "email": "li@lab.invalid",
                "feishu": "ou_director_li",
            },
            {"name": "director-zhao", "role": "leadership", "email": "zhao@lab.invalid"},
        ],
        "escalation": {
            "blue": ["duty-wang"],
            "yellow": ["duty-wang", "tech-zhang"],
            "orange": ["duty-wang", "tech-zhang", "office-liu", "director-li"],
            "red": ["duty-wang", "tech-zhang", "office-liu", "director-li", "director-zhao"],
        },
        "notifications": {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "dr@lab.invalid",
                "username": "dr-alerts",
                # The test server has no TLS; only a drill may log in without it.
                "allow_cleartext_login": True,
                "password": "env:C1_SMTP_PASSWORD",
            },
            "webhooks": webhooks
            if webhooks is not None
            else [
                {"name": "all-levels", "kind": "generic", "url": "env:C1_GENERIC_URL"},
                {
                    "name": "duty-group",
                    "kind": "wecom",
                    "url": "env:C1_WECOM_URL",
                    "levels": ["yellow", "orange", "red"],
                    "language": "zh",
                },
                {
                    "name": "tech-group",
                    "kind": "dingtalk",
                    "url": "env:C1_DINGTALK_URL",
                    "secret": "env:C1_DINGTALK_SECRET",
                    "levels": ["yellow", "orange", "red"],
                },
                {
                    "name": "leaders",
                    "kind": "feishu",
                    "url": "env:C1_FEISHU_URL",
                    "secret": "env:C1_FEISHU_SECRET",
                    "levels": ["orange", "red"],
                },
            ],
            "retries": 2,
            "backoff": 1,
        },
    }
    path = tmp_path / "incident-test.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request, tmp_path):
    # The records database the operators and the scheduler share may be either.
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/journal.sqlite3"
    else:
        url = request.getfixturevalue("postgres_db_url")
    j = Journal(url)
    yield j
    j.close()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def level_mails(box, address: str, incident_id: str) -> list[str]:
    return [m["Subject"] for m in box.to(address) if incident_id in m["Subject"]]


def test_blue_incident_escalates_on_schedule_and_every_step_reaches_smtp_and_http(
    tmp_path, journal, receivers, secrets_env
):
    box, port, http = receivers
    inventory = load_inventory(write_inventory(tmp_path, port))
    store = IncidentStore(journal)
    incident = store.open(
        inventory_name=inventory.name,
        inventory_path=None,
        category="network",
        level="blue",
        summary="branch lines down (网点线路中断)",
        actor="duty-wang",
        # A province's branches: graded III after 30 min, so the regulator's reports are
        # owed (an ungraded line fault owes none: test_incident_clocks.py).
        scope=Scope(provinces=1),
        started_at=T0,
        at=T0,
    )
    sleeps = Sleeps()

    # 09:00 opened at blue: the blue roster by email, the all-levels webhook.
    tick(journal, inventory, T0, sleep=sleeps)
    [blue_mail] = box.to("wang@lab.invalid")
    assert "蓝色预警" in blue_mail["Subject"] and incident.id in blue_mail["Subject"]
    assert box.logins == ["dr-alerts"]
    [generic] = http.on("/generic")
    assert generic["body"]["key"] == f"{incident.id}:level:blue"
    assert not http.on("/wecom") and not http.on("/dingtalk")

    # The same moment again: nothing new is owed, nothing is sent twice.
    again = tick(journal, inventory, T0, sleep=sleeps)
    assert again.notices == [] and again.deliveries == []
    assert len(box.messages) == 1 and len(http.requests) == 1

    # 09:50: the 60-minute regulator report is due soon: a reminder.
    tick(journal, inventory, T0 + timedelta(minutes=50), sleep=sleeps)
    [reminder] = [m for m in box.to("wang@lab.invalid") if "监管" in m["Subject"]]
    assert "提醒" in reminder["Subject"]
    assert "--done regulator-initial" in reminder.get_content()
    store.mark_deadline_met(
        incident.id, "regulator-initial", actor="duty-wang", at=T0 + timedelta(minutes=55)
    )

    # 12:59: still blue. 13:00: four hours unresolved -> yellow, dated exactly then.
    before = tick(journal, inventory, T0 + timedelta(hours=3, minutes=59), sleep=sleeps)
    assert before.escalations == []
    at_yellow = tick(journal, inventory, T0 + timedelta(hours=4, minutes=7), sleep=sleeps)
    assert at_yellow.escalations == [{"incident": incident.id, "to": "yellow", "cause": "time"}]
    current = store.get(incident.id)
    assert (current.level, current.level_since) == ("yellow", T0 + timedelta(hours=4))
    assert any("黄色预警" in s for s in level_mails(box, "wang@lab.invalid", incident.id))
    [zhang_yellow] = box.to("zhang@lab.invalid")  # language: en
    assert "raised: yellow" in zhang_yellow["Subject"]
    [wecom] = http.on("/wecom")
    assert wecom["body"]["msgtype"] == "text"
    assert wecom["body"]["text"]["mentioned_list"] == ["wangwei"]
    assert "黄色预警" in wecom["body"]["text"]["content"]
    [ding] = http.on("/dingtalk")
    assert ding["reply"]["errcode"] == 0  # the receiver checked the signature
    assert ding["query"]["access_token"] == "bot-token"
    assert ding["body"]["at"]["atUserIds"] == ["zhang01"]
    assert not http.on("/feishu")

    # 24 h more at yellow -> orange; the leadership's Feishu group is told too.
    at_orange = tick(journal, inventory, T0 + timedelta(hours=28, minutes=1), sleep=sleeps)
    assert {"incident": incident.id, "to": "orange", "cause": "time"} in at_orange.escalations
    current = store.get(incident.id)
    assert (current.level, current.level_since) == ("orange", T0 + timedelta(hours=28))
    for address in ("wang@lab.invalid", "liu@lab.invalid", "li@lab.invalid"):
        assert any("橙色预警" in s for s in level_mails(box, address, incident.id)), address
    assert any("raised: orange" in s for s in level_mails(box, "zhang@lab.invalid", incident.id))
    [feishu] = [r for r in http.on("/feishu") if "橙色预警" in r["body"]["content"]["text"]]
    assert feishu["reply"]["code"] == 0  # signature checked
    assert 'user_id="ou_director_li"' in feishu["body"]["content"]["text"]
    # Orange: on-site deadlines for the roster (30 min staff, 1 h leadership) in the notice.
    orange_mail = next(m for m in box.to("li@lab.invalid") if "橙色预警" in m["Subject"])
    assert "到达现场" in orange_mail.get_content()

    # Every delivery is in the hash-chained journal; no secret is.
    sent = journal.events(kinds=("notification.sent",))
    assert len(sent) == len(box.messages) + len(http.requests)
    assert journal.verify().ok
    dump = json.dumps([e.data for e in journal.events()])
    assert "bot-token" not in dump and SMTP_PASSWORD not in dump and DINGTALK_SECRET not in dump
    assert sleeps == []  # every receiver answered at once
    kinds = [e.kind for e in store.timeline(incident.id)]
    assert kinds.count("incident.level_changed") == 2


def test_deliveries_are_retried_with_backoff_and_failures_are_journaled(
    tmp_path, journal, receivers, secrets_env, monkeypatch
):
    box, port, http = receivers
    monkeypatch.setenv("C1_DEAD_URL", "http://127.0.0.1:9/nothing-listens")
    hooks = [
        {"name": "flaky", "kind": "generic", "url": "env:C1_FLAKY_URL"},
        {"name": "dead", "kind": "generic", "url": "env:C1_DEAD_URL"},
    ]
    inventory = load_inventory(write_inventory(tmp_path, port, hooks))
    http.failures["/flaky"] = 2
    store = IncidentStore(journal)
    incident = store.open(
        inventory_name=inventory.name,
        inventory_path=None,
        category="system",
        level="blue",
        summary="report generator slow",
        actor="duty-wang",
        started_at=T0,
        at=T0,
    )
    sleeps = Sleeps()
    report = tick(journal, inventory, T0, sleep=sleeps)  # must not raise

    assert [r["status"] for r in http.on("/flaky")] == [500, 500, 200]
    assert sleeps == [1, 2, 1, 2]  # flaky: 1 s, 2 s; dead: 1 s, 2 s, then given up
    assert len(box.to("wang@lab.invalid")) == 1
    failed = journal.events(kinds=("notification.failed",))
    assert [(e.data["recipient"], e.data["attempts"]) for e in failed] == [("dead", 3)]
    assert "cannot reach it" in failed[0].data["error"]
    assert "127.0.0.1:9" not in failed[0].data["error"]  # the URL is a secret
    flaky = [
        e for e in journal.events(kinds=("notification.sent",)) if e.data["recipient"] == "flaky"
    ]
    assert flaky[0].data["attempts"] == 3
    [delivery] = report.deliveries
    assert (delivery["key"], delivery["status"], delivery["sent"]) == (
        f"{incident.id}:level:blue",
        "partial",
        2,
    )
    assert delivery["errors"] == [f"webhook:dead dead: {failed[0].data['error']}"]
    # A partial notice is finished: the next tick does not send it again.
    assert tick(journal, inventory, T0, sleep=sleeps).deliveries == []


def test_a_run_raises_its_incident_and_orange_approval_needs_the_orange_roster(
    tmp_path, journal, receivers, secrets_env
):
    _, port, _ = receivers
    inventory = load_inventory(write_inventory(tmp_path, port, hooks := []))
    assert hooks == []
    store = IncidentStore(journal)
    incident = store.open(
        inventory_name=inventory.name,
        inventory_path=None,
        category="equipment",
        level="yellow",
        summary="core host alarm",
        actor="duty-wang",
    )
    engine = Engine(journal, RunbookRegistry.discover([DATA / "incident_runbooks"]))
    options = RunOptions(mode="drill", operator="duty-wang", incident_id=incident.id)
    outcome = engine.start("core-host-down", inventory, options)
    assert outcome.status == "waiting"  # at the approval
    raised = store.get(incident.id)
    assert raised.level == "orange"
    [change] = [e for e in store.timeline(incident.id) if e.kind == "incident.level_changed"]
    assert (change.data["cause"], change.data["run_id"]) == ("run", outcome.run_id)
    assert [r.id for r in store.runs(incident.id)] == [outcome.run_id]

    # The orange roster is asked for the approval (and the orange level notice goes out).
    box, _, _ = receivers
    tick(journal, inventory, datetime.now(UTC))
    [ask] = [m for m in box.to("li@lab.invalid") if "待领导小组审批" in m["Subject"]]
    # The approval step sent director-li (the only leader on the orange roster) a code.
    [code_mail] = [m for m in box.to("li@lab.invalid") if "Your approval" in m["Subject"]]
    assert "--code" in code_mail.get_content()
    assert not [m for m in box.to("zhao@lab.invalid") if "Your approval" in m["Subject"]]
    assert f"dr approve {outcome.run_id} plan-approved [--code CODE]" in ask.get_content()
    # director-zhao holds the leadership role but is not on the orange roster.
    with pytest.raises(UserInputError, match="orange roster"):
        approvals.approve(
            journal, inventory, outcome.run_id, "plan-approved", _at_terminal("director-zhao")
        )
    approvals.approve(
        journal, inventory, outcome.run_id, "plan-approved", _at_terminal("director-li")
    )
    assert engine.resume(outcome.run_id, inventory, options).status == "succeeded"

    # A lower level declared later never lowers the incident; closed takes no more runs.
    assert not store.set_level(incident.id, "blue", cause="run", actor=None, reason="calmer")
    store.close(incident.id, actor="duty-wang", resolution="host replaced")
    with pytest.raises(IncidentClosed):
        store.require_open(incident.id)


def _at_terminal(name: str) -> Person:
    return Person(contact=name, role="leadership", login=None, proof=f"os-account:{name}")


@pytest.fixture
def dr(tmp_path, secrets_env):
    env = {**os.environ, "DR_DB": f"sqlite:///{tmp_path}/cli.sqlite3", "DR_OPERATOR": "duty-wang"}

    def run(*args: str, group: str = "incident") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", group, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def test_incident_commands_notify_at_once_and_refuse_bad_input_with_exit_2(tmp_path, dr, receivers):
    box, port, http = receivers
    inv = str(write_inventory(tmp_path, port))

    opened = dr(
        "open",
        "-i",
        inv,
        "--category",
        "system",
        "--level",
        "yellow",
        "--summary",
        "核心系统交易缓慢",
        "--json",
    )
    assert opened.returncode == 0, opened.stderr
    doc = json.loads(opened.stdout)
    incident_id = doc["id"]
    assert {d["key"] for d in doc["tick"]["deliveries"]} == {f"{incident_id}:level:yellow"}
    assert len(box.to("zhang@lab.invalid")) == 1 and len(http.on("/dingtalk")) == 1

    bad = {
        ("open", "-i", inv, "--category", "power", "--summary", "x"): "--category 'power'",
        (
            "open",
            "-i",
            inv,
            "--category",
            "system",
            "--summary",
            "x",
            "--started-at",
            "yesterday",
        ): "--started-at 'yesterday' is not a time",
        ("update", incident_id, "--on-site", "nobody"): "'nobody': not a contact",
        ("update", "INC-NOPE", "--note", "x"): "no incident 'INC-NOPE'",
    }
    for args, message in bad.items():
        result = dr(*args)
        assert result.returncode == EXIT_BAD_INPUT, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr

    updated = dr("update", incident_id, "--on-site", "duty-wang", "--done", "regulator-initial")
    assert updated.returncode == 0, updated.stderr
    closed = dr("close", incident_id, "--resolution", "index rebuilt", "--json")
    assert closed.returncode == 0, closed.stderr
    assert any("事件结束" in m["Subject"] for m in box.to("wang@lab.invalid"))
    assert dr("update", incident_id, "--note", "late").returncode == EXIT_BAD_INPUT
    # A live run cannot join a closed incident (checked before anything runs).
    prod = str(DATA / "engine-production.yaml")
    joined = dr("people", "-i", prod, "--incident", incident_id, group="run")
    assert joined.returncode == EXIT_BAD_INPUT and "was closed" in joined.stderr, joined.stderr
    listed = json.loads(dr("list", "--json").stdout)
    assert [(i["id"], i["status"]) for i in listed["incidents"]] == [(incident_id, "closed")]
    shown = json.loads(dr("show", incident_id, "--json").stdout)
    assert shown["on_site"].keys() == {"duty-wang"}
    assert "incident.closed" in [e["kind"] for e in shown["timeline"]]

    # The tables in the operator's language (issue 19), as `dr runs list` does it.
    table = dr("list", "--lang", "zh")
    assert table.returncode == 0, table.stderr
    assert "事件编号" in table.stdout and "已关闭" in table.stdout and "黄色" in table.stdout
    assert incident_id in table.stdout and "closed" not in table.stdout
    assert "closed" in dr("list", "--lang", "en").stdout
    page = dr("show", incident_id, "--lang", "zh")
    assert page.returncode == 0, page.stderr
    assert f"事件 {incident_id}" in page.stdout and "预警级别=黄色" in page.stdout
    assert "生效时间" in page.stdout and "登记人 duty-wang" in page.stdout, page.stdout


def test_smtp_starttls_verifies_the_server_certificate_before_logging_in(
    tmp_path, journal, starttls_mailbox, monkeypatch
):
    box, port, cert = starttls_mailbox
    box.clear()
    monkeypatch.setenv("C1_SMTP_PASSWORD", SMTP_PASSWORD)
    path = write_inventory(tmp_path, port, hooks := [])
    doc = yaml.safe_load(path.read_text())
    doc["notifications"]["smtp"]["starttls"] = True
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    inventory = load_inventory(path)
    store = IncidentStore(journal)
    sleeps = Sleeps()

    # Not trusted: the certificate is refused, nothing is sent, the failure is journaled.
    untrusted = store.open(
        inventory_name=inventory.name,
        inventory_path=None,
        category="system",
        level="blue",
        summary="untrusted",
        actor="duty-wang",
        started_at=T0,
        at=T0,
    )
    tick(journal, inventory, T0, incident_id=untrusted.id, sleep=sleeps)
    assert box.messages == [] and box.logins == []
    [failed] = journal.events(kinds=("notification.failed",))
    assert "CERTIFICATE_VERIFY_FAILED" in failed.data["error"] and hooks == []

    # Trusted (as a site CA would be): STARTTLS, login, delivery.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    trusted = store.open(
        inventory_name=inventory.name,
        inventory_path=None,
        category="system",
        level="blue",
        summary="trusted",
        actor="duty-wang",
        started_at=T0,
        at=T0,
    )
    tick(journal, inventory, T0, incident_id=trusted.id, sleep=sleeps)
    [mail] = box.to("wang@lab.invalid")
    assert trusted.id in mail["Subject"] and box.logins == ["dr-alerts"]


def test_the_scheduler_job_ticks_the_inventorys_incidents(tmp_path, receivers, secrets_env):
    box, port, _ = receivers
    path = write_inventory(tmp_path, port, hooks := [])
    url = f"sqlite:///{tmp_path}/scheduled.sqlite3"
    journal = Journal(url)
    incident = IncidentStore(journal).open(
        inventory_name="incident-test",
        inventory_path=str(path),
        category="network",
        level="yellow",
        summary="trunk line down",
        actor="duty-wang",
    )
    env = jobs.JobEnvironment(path, url, tmp_path / "textfile")
    assert jobs.incident_tick(env=env) == {"escalations": 0, "deliveries": 1}
    assert jobs.incident_tick(env=env) == {"escalations": 0, "deliveries": 0}
    assert {m["To"] for m in box.messages if incident.id in m["Subject"]} == {
        "wang@lab.invalid",
        "zhang@lab.invalid",
    }
    assert hooks == []
    assert "incident-tick" in {spec.id for spec in job_specs(load_inventory(path))}
    journal.close()


def test_grade_rises_with_the_outage_and_grade_one_asks_for_progress_every_two_hours(
    tmp_path, journal, receivers, secrets_env
):
    box, port, _ = receivers
    inventory = load_inventory(write_inventory(tmp_path, port, hooks := []))
    store = IncidentStore(journal)
    incident = store.open(
        inventory_name=inventory.name, inventory_path=None, category="equipment",
        level="orange", summary="province-wide outage", actor="duty-wang",
        scope=Scope(provinces=1), started_at=T0, at=T0,
    )  # fmt: skip
    tick(journal, inventory, T0 + timedelta(minutes=40))
    assert store.get(incident.id).grade == "III"
    tick(journal, inventory, T0 + timedelta(hours=6, minutes=1))
    graded = store.get(incident.id)
    assert graded.grade == "I" and hooks == []
    subjects = [m["Subject"] for m in box.to("li@lab.invalid")]
    assert any("定级:III级" in s for s in subjects) and any("定级:I级" in s for s in subjects)
    # 6 h in: the third 2-hourly progress report is due now and none was made.
    assert any("第3次进展报告" in s and "已超时" in s for s in subjects)
    store.record_progress(incident.id, "standby host carries the load", actor="duty-wang",
                          at=T0 + timedelta(hours=6, minutes=5))  # fmt: skip
    report = tick(journal, inventory, T0 + timedelta(hours=7, minutes=50))
    assert not any("progress-4" in key for key in report.notices)  # reported in time
    changes = [
        e.data["to"] for e in store.timeline(incident.id) if e.kind == "incident.grade_changed"
    ]
    assert changes == ["III", "I"]


def test_a_late_tick_catches_up_every_level_and_tells_each_roster(
    tmp_path, journal, receivers, secrets_env
):
    box, port, _ = receivers
    inventory = load_inventory(write_inventory(tmp_path, port, hooks := []))
    store = IncidentStore(journal)
    incident = store.open(
        inventory_name=inventory.name, inventory_path=None, category="system", level="blue",
        summary="batch jobs failing", actor="duty-wang", started_at=T0, at=T0,
    )  # fmt: skip
    # The daemon was down for 50 h: system blue -> yellow at 48 h, yellow -> orange at 50 h.
    report = tick(journal, inventory, T0 + timedelta(hours=50), sleep=Sleeps())
    assert [step["to"] for step in report.escalations] == ["yellow", "orange"]
    current = store.get(incident.id)
    assert (current.level, current.level_since) == ("orange", T0 + timedelta(hours=50))
    subjects = [m["Subject"] for m in box.to("zhang@lab.invalid")]
    assert any("raised: yellow" in s for s in subjects) and hooks == []
    assert any("raised: orange" in s for s in subjects)
