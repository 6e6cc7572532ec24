"""A real `dr alerts serve` on loopback takes real Alertmanager and Zabbix webhook
requests (httpx) and opens, updates and notes incidents; the roster's notices reach a real
SMTP server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.console_site import free_port
from tests.support.notify_receivers import MailBox
from tests.support.server_process import server_env, stop_server

pytestmark = pytest.mark.integration

TOKEN = "alerts-test-token-" + "x" * 16


@dataclass
class AlertSite:
    inventory: Path
    port: int
    env: dict[str, str]
    mailbox: MailBox

    def post(self, path: str, body: Any, *, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        return httpx.post(
            f"http://127.0.0.1:{self.port}{path}", content=content, headers=headers, timeout=30
        )

    def incidents(self) -> list[dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", "incident", "list", "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout)["incidents"])

    def show(self, incident_id: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", "incident", "show", incident_id,
             "--json"],
            env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))


@pytest.fixture
def site(tmp_path: Path, mailbox: tuple[MailBox, int]) -> Iterator[AlertSite]:
    yield from _serving(tmp_path, mailbox, "production", [])


def _serving(
    tmp_path: Path, mailbox: tuple[MailBox, int], environment: str, extra: list[dict[str, Any]]
) -> Iterator[AlertSite]:
    box, smtp_port = mailbox
    box.clear()
    port = free_port()
    inventory = {
        "name": "alerts-test",
        "environment": environment,
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator", "email": "wang@alerts.invalid",
             "language": "en"},
            {"name": "director-zhao", "role": "leadership", "email": "zhao@alerts.invalid",
             "language": "en"},
        ],
        "escalation": {
            "blue": ["duty-wang"],
            "yellow": ["duty-wang"],
            "orange": ["duty-wang", "director-zhao"],
        },
        "notifications": {
            # No login: a production inventory may not send one without TLS.
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "dr@alerts.invalid"},
        },
        "alerts": {
            "listen": f"127.0.0.1:{port}",
            "auth": {"bearer_token": "env:ALERTS_TEST_TOKEN"},
            "routes": [
                {"match": {"alertname": "CreditDbDown"}, "category": "equipment",
                 "level": "orange", "runbook": "dual-host-cutover", "params": {"pair": "credit"}},
                {"match": {"alertname": "Branch line down", "source": "zabbix"},
                 "category": "network", "level": "yellow", "runbook": "line-failover",
                 "params": {"branch": "chengguan", "pair": "credit"}},
                *extra,
            ],
        },
    }  # fmt: skip
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    env = server_env(
        tmp_path,
        ALERTS_TEST_TOKEN=TOKEN,
        DR_RUNBOOKS=str(Path(__file__).parent.parent / "data" / "console_runbooks"),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", "alerts", "serve", "-i", str(path),
         "--insecure-http"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_until_serving(port, process)
        yield AlertSite(path, port, env, box)
    finally:
        stop_server(process)


def _wait_until_serving(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"dr alerts serve exited {process.returncode}: {out}\n{err}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("dr alerts serve did not answer within 60s")


def _am(
    status: str, starts: datetime, *, name: str = "CreditDbDown", fp: str = "a1b2c3d4e5f60718"
) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}:{alertname=" + json.dumps(name) + "}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "dr",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "instance": "credit-a:9187", "severity": "critical"},
                "annotations": {"summary": "PostgreSQL on credit-a does not answer"},
                # Go's RFC 3339 with nanoseconds, as Alertmanager writes it.
                "startsAt": starts.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
                "endsAt": (
                    "0001-01-01T00:00:00Z"
                    if status == "firing"
                    else (starts + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
                ),
                "generatorURL": "http://prometheus.invalid:9090/graph",
                "fingerprint": fp,
            }
        ],
    }


def _wait_for_mail(box: MailBox, address: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(box.to(address)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(box.to(address)) >= count, f"{address} got {len(box.to(address))} mails"


def _body(mail: Any) -> str:
    return str(mail.get_body(preferencelist=("plain",)).get_content())


def test_alertmanager_opens_updates_and_resolves(site: AlertSite) -> None:
    starts = (datetime.now(UTC) - timedelta(minutes=7)).replace(microsecond=0)
    first = site.post("/alertmanager", _am("firing", starts))
    assert first.status_code == 200, first.text
    [outcome] = first.json()["results"]
    assert outcome["action"] == "opened"
    assert outcome["runbook"] == "dual-host-cutover"
    incident_id = outcome["incident_id"]
    expected = (
        f"dr run dual-host-cutover -i {site.inventory.absolute()} -p pair=credit "
        f"--incident {incident_id}"
    )
    assert outcome["command"] == expected

    [incident] = site.incidents()
    assert incident["id"] == incident_id
    assert (incident["level"], incident["category"]) == ("orange", "equipment")
    assert datetime.fromisoformat(incident["started_at"]) == starts  # the alert's own start
    assert "dual-host-cutover" in incident["summary"] and expected in incident["summary"]
    # The orange roster is mailed, and the mail carries the command to run.
    for address in ("wang@alerts.invalid", "zhao@alerts.invalid"):
        _wait_for_mail(site.mailbox, address, 1)
        mail = site.mailbox.to(address)[0]
        assert incident_id in mail["Subject"]
        assert expected in _body(mail)

    again = site.post("/alertmanager", _am("firing", starts))
    assert again.json()["results"][0] == {
        "alert_key": "am:a1b2c3d4e5f60718", "action": "updated", "incident_id": incident_id,
    }  # fmt: skip
    assert len(site.incidents()) == 1

    resolved = site.post("/alertmanager", _am("resolved", starts))
    assert resolved.json()["results"][0]["action"] == "resolved"
    timeline = site.show(incident_id)
    text = json.dumps(timeline, ensure_ascii=False)
    assert "alert resolved at" in text
    assert site.incidents()[0]["status"] == "open"  # a person closes it, not the alert


def test_zabbix_event_opens_then_resolves(site: AlertSite) -> None:
    began = int((datetime.now(UTC) - timedelta(minutes=3)).timestamp())
    problem = {
        "event_id": "48211", "status": "PROBLEM", "host": "chengguan-router",
        "trigger": "Branch line down", "severity": "High", "time": str(began),
        "tags": [{"tag": "branch", "value": "chengguan"}],
    }  # fmt: skip
    first = site.post("/zabbix", problem)
    assert first.status_code == 200, first.text
    [outcome] = first.json()["results"]
    assert (outcome["action"], outcome["runbook"]) == ("opened", "line-failover")
    assert "-p branch=chengguan -p pair=credit" in outcome["command"]
    [incident] = site.incidents()
    assert (incident["level"], incident["category"]) == ("yellow", "network")
    assert datetime.fromisoformat(incident["started_at"]).timestamp() == began
    _wait_for_mail(site.mailbox, "wang@alerts.invalid", 1)
    assert site.mailbox.to("zhao@alerts.invalid") == []  # not on the yellow roster

    assert site.post("/zabbix", problem).json()["results"][0]["action"] == "updated"
    recovery = {**problem, "status": "RESOLVED", "recovery_time": str(began + 120)}
    assert site.post("/zabbix", recovery).json()["results"][0]["action"] == "resolved"
    assert len(site.incidents()) == 1
    assert "alert resolved at" in json.dumps(site.show(incident["id"]), ensure_ascii=False)
    shown = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "incident", "show", incident["id"]],
        env={**site.env, "COLUMNS": "250"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "zabbix resolved zabbix:48211" in shown.stdout, shown.stdout


def test_unmatched_alert_opens_blue_incident_saying_so(site: AlertSite) -> None:
    starts = datetime.now(UTC) - timedelta(minutes=1)
    reply = site.post("/alertmanager", _am("firing", starts, name="DiskAlmostFull", fp="ff00"))
    [outcome] = reply.json()["results"]
    assert outcome["action"] == "opened" and "runbook" not in outcome
    [incident] = site.incidents()
    assert incident["level"] == "blue"
    assert "no alert route matched" in incident["summary"]


def test_refuses_without_credentials_and_bad_payloads(site: AlertSite) -> None:
    starts = datetime.now(UTC)
    assert site.post("/alertmanager", _am("firing", starts), token=None).status_code == 401
    assert site.post("/alertmanager", _am("firing", starts), token="wrong").status_code == 401
    broken = site.post("/alertmanager", b'{"version": "4", "alerts": [')
    assert broken.status_code == 400
    assert "not JSON" in broken.json()["error"]
    assert "Traceback" not in broken.text
    no_fp = _am("firing", starts)
    del no_fp["alerts"][0]["fingerprint"]
    missing = site.post("/alertmanager", no_fp)
    assert missing.status_code == 400 and "fingerprint" in missing.json()["error"]
    macro = site.post("/zabbix", {"event_id": "{EVENT.ID}", "status": "PROBLEM"})
    assert macro.status_code == 400 and "event_id" in macro.json()["error"]
    huge = site.post("/zabbix", b"[" + b"0," * 600_000 + b"0]")
    assert huge.status_code == 413
    assert site.incidents() == []


def test_refuses_to_start_without_auth(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump({"name": "no-auth", "environment": "production"}))
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "alerts", "serve", "-i", str(path),
         "--insecure-http"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "DR_DB": f"sqlite:///{tmp_path}/j.sqlite3"},
    )  # fmt: skip
    assert done.returncode == 2
    assert "alerts.auth is missing" in done.stderr


def test_drill_route_starts_the_drill_for_the_incident(
    tmp_path: Path, mailbox: tuple[MailBox, int]
) -> None:
    effects = tmp_path / "effects.log"
    route = {
        "match": {"alertname": "DrillCreditDbDown"}, "category": "equipment",
        "level": "yellow", "runbook": "console-drill", "params": {"effects": str(effects)},
        "auto_drill": True,
    }  # fmt: skip
    serving = _serving(tmp_path, mailbox, "drill", [route])
    site = next(serving)
    drill_pid = None
    try:
        reply = site.post(
            "/alertmanager", _am("firing", datetime.now(UTC), name=route["match"]["alertname"])
        )
        [outcome] = reply.json()["results"]
        drill_pid = outcome["drill_pid"]
        assert outcome["command"].startswith("dr drill console-drill ")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not effects.exists():
            time.sleep(0.2)
        # The drill's first action ran; it then waits at its approval for a person.
        assert effects.read_text().splitlines() == ["prepared"]
        runs = site.show(outcome["incident_id"])["runs"]
        assert [run["runbook"] for run in runs] == ["console-drill"]
    finally:
        if drill_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(drill_pid, signal.SIGTERM)
        serving.close()
