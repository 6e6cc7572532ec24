"""power-outage's notify step, end to end: a real NUT server with its modelled UPS on
battery, the runbook through the engine, and the notice arriving at a real SMTP server
and a real HTTP webhook receiver, every delivery journaled under the run's step."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab.ups import UpsLab
from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.engine.operator import Answer
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port
from tests.support.notify_receivers import SMTP_PASSWORD

pytestmark = pytest.mark.integration


class NobodyAtTheTerminal:
    """No one answers: the run stops, waiting, at its first manual step (the call to the
    power company), just after the notice went out."""

    interactive = False

    def ask_done(self, title: str, instructions: str, hosts: list[str]) -> Answer:
        return Answer.UNAVAILABLE

    def ask_proceed(self, title: str, changes: list[str]) -> Answer:
        return Answer.UNAVAILABLE

    def wait_notice(self, message: str) -> None:
        pass


@pytest.fixture(scope="module")
def ups_on_battery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpsLab]:
    base = tmp_path_factory.mktemp("notice-ups")
    (base / "ups_password").write_text(secrets.token_urlsafe(12) + "\n")
    ups = UpsLab(
        base / "ups",
        port=find_free_port(),
        password_file=base / "ups_password",
        battery_runtime_s=3600,
        low_runtime_s=60,
    )
    ups.start()
    ups.set_mode("outage")
    deadline = time.monotonic() + 15
    while not ups.client().reading().on_battery:
        assert time.monotonic() < deadline, "the modelled UPS never went on battery"
        time.sleep(0.2)
    yield ups
    ups.stop()


@pytest.fixture
def receivers(mailbox, http_receiver, monkeypatch):
    box, port = mailbox
    box.clear()
    http_receiver.clear()
    monkeypatch.setenv("PN_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("PN_DUTY_URL", http_receiver.url("/duty"))
    return box, port, http_receiver


def _inventory(tmp_path: Path, ups: UpsLab, smtp_port: int) -> Inventory:
    doc = {
        "name": "power-notice",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "power": {
            "ups": [
                {"name": "ups-a", "nut_port": ups.port, "ups_name": ups.ups_name},
            ],
            "generators": [
                {"name": "gen-1", "modbus_host": "127.0.0.1", "mains_wait_seconds": 600}
            ],
        },
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator", "email": "wang@lab.invalid"},
            {
                "name": "tech-zhang",
                "role": "tech-team",
                "email": "zhang@lab.invalid",
                "language": "en",
            },
            {"name": "director-li", "role": "leadership", "email": "li@lab.invalid"},
        ],
        "escalation": {"blue": ["duty-wang", "tech-zhang"], "orange": ["director-li"]},
        "notifications": {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "dr@lab.invalid",
                "username": "dr-alerts",
                # The test server has no TLS; only a drill may log in without it.
                "allow_cleartext_login": True,
                "password": "env:PN_SMTP_PASSWORD",
            },
            "webhooks": [{"name": "duty-group", "url": "env:PN_DUTY_URL", "levels": ["blue"]}],
            "retries": 1,
            "backoff": 0,
        },
    }
    path = tmp_path / "power-notice.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return load_inventory(path)


def _run_to_the_first_manual_step(tmp_path: Path, inventory: Inventory) -> tuple[Journal, str]:
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    engine = Engine(journal, RunbookRegistry.discover([]), operator_io=NobodyAtTheTerminal())
    outcome = engine.start(
        "power-outage", inventory, RunOptions(mode="drill", operator="duty-wang")
    )
    assert outcome.status == "waiting", outcome.message
    return journal, outcome.run_id


def test_power_outage_notifies_the_blue_roster_by_email_and_webhook(
    tmp_path, ups_on_battery, receivers
):
    box, smtp_port, http = receivers
    inventory = _inventory(tmp_path, ups_on_battery, smtp_port)

    journal, run_id = _run_to_the_first_manual_step(tmp_path, inventory)

    [zh_mail] = box.to("wang@lab.invalid")
    [en_mail] = box.to("zhang@lab.invalid")
    assert box.to("li@lab.invalid") == []  # orange roster: not for a mains outage
    assert zh_mail["Subject"] == "[dr] [演练] 停电：UPS ups-a 电池供电"
    assert "将启动发电机 gen-1" in zh_mail.get_content()
    assert en_mail["Subject"] == "[dr] [drill] Power outage: UPS ups-a on battery"
    body = en_mail.get_content()
    assert "UPS ups-a on battery since" in body and "OB" in body
    assert f"dr runs show {run_id}" in body
    [post] = http.on("/duty")
    assert "Power outage: UPS ups-a on battery" in str(post["body"])

    sent = journal.events(run_id=run_id, kinds=("notification.sent",))
    assert sorted(e.data["recipient"] for e in sent) == [
        "duty-group",
        "wang@lab.invalid",
        "zhang@lab.invalid",
    ]
    assert {e.step_id for e in sent} == {"notify"}
    step = {s.step_id: s for s in journal.steps(run_id)}["notify"]
    assert step.status == "succeeded" and step.result["failed"] == []
    journal.close()


def test_a_notice_that_cannot_be_delivered_is_recorded_and_the_run_goes_on(
    tmp_path, ups_on_battery, receivers
):
    box, smtp_port, http = receivers
    http.failures["/duty"] = 10  # more 500s than the inventory's retries
    inventory = _inventory(tmp_path, ups_on_battery, smtp_port)

    journal, run_id = _run_to_the_first_manual_step(tmp_path, inventory)

    assert len(box.to("wang@lab.invalid")) == 1
    [failed] = journal.events(run_id=run_id, kinds=("notification.failed",))
    assert failed.data["recipient"] == "duty-group" and failed.data["attempts"] == 2
    step = {s.step_id: s for s in journal.steps(run_id)}["notify"]
    assert step.status == "succeeded"
    assert step.result["failed"] and "duty-group" in step.result["failed"][0]
    notes = [e.data["text"]["en"] for e in journal.events(run_id=run_id, kinds=("note",))]
    assert any("Phone the duty roster" in note for note in notes)
    journal.close()
