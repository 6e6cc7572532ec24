"""What the lab's roster is told, read from the lab's mail room: a failed scheduled
backup, and an alert from monitoring.

A real `dr scheduler run` on the lab inventory (its backup set scheduled every 5 s for
the test), while dc-a, where the set's files and database are, is cut off from the
orchestrator (`partition dc-a`): the backup fails for real, the scheduler opens an
incident and mails the blue roster through the lab's SMTP server (lab/mailroom.py).
`dr alerts serve` on the lab inventory turns an Alertmanager payload into an incident
and mails its roster the same way.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lab.mailroom import read_mail
from orchestrator.incidents import IncidentStore
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until
from tests.support.server_process import server_env, stop_server

pytestmark = pytest.mark.integration
SET = "credit-local"
DR = [sys.executable, "-m", "orchestrator.cli.main"]


def _inventory(lab, tmp_path: Path) -> Path:
    data = yaml.safe_load(lab.state.inventory_file.read_text())
    data["defaults"]["ssh"]["connect_timeout"] = 1
    for backup_set in data["backup_sets"]:
        if backup_set["name"] == SET:
            backup_set["schedule"] = "*/5 * * * * *"
    data["scheduler"] = {"textfile_dir": str(tmp_path / "textfile")}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _duty_mail(lab, seen: int, address: str) -> list:
    return [m for m in read_mail(lab.state.mail)[seen:] if address in str(m["To"])]


def test_a_failed_scheduled_backup_on_the_lab_mails_the_roster(lab, tmp_path):
    inventory = _inventory(lab, tmp_path)
    duty = next(
        c["email"] for c in yaml.safe_load(inventory.read_text())["contacts"]
        if c["name"] == "duty-wang"
    )  # fmt: skip
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    seen = len(read_mail(lab.state.mail))
    lab.fault("partition", ["dc-a"])
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [*DR, "scheduler", "run", "-i", str(inventory), "--db", db],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:
        wait_until(
            lambda: bool(_duty_mail(lab, seen, duty)) or daemon.poll() is not None, timeout=120
        )
        mail = _duty_mail(lab, seen, duty)
        assert mail, f"no mail to {duty}; scheduler log:\n{log.read_text()[-3000:]}"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        lab.heal("partition", ["dc-a"])
    store = IncidentStore(Journal(db))
    try:
        (incident,) = store.incidents(status="open")
    finally:
        store.dispose()
    assert (incident.category, incident.level) == ("system", "blue")
    assert f"backup:{SET}" in incident.summary
    subject, body = str(mail[0]["Subject"]), mail[0].get_content()
    # In the contact's own language (the lab's duty officer reads Chinese).
    assert incident.id in subject and "系统事件发生" in subject, subject
    assert f"backup:{SET}" in body and "备份失败" in body, body
    # The operator's view of the mail room.
    shown = subprocess.run(
        [*DR, "lab", "mail", "--json", "--last", "20"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)["messages"]
    assert any(incident.id in m["Subject"] and duty in m["To"] for m in listed), listed


def test_an_alertmanager_alert_on_the_lab_opens_an_incident_and_mails_its_roster(lab, tmp_path):
    """`dr alerts serve` on the lab inventory (its route: the credit service down is an
    equipment orange for dual-host-cutover): an Alertmanager v4 payload opens the
    incident from the alert's own start and the orange roster hears of it by mail."""
    env = server_env(tmp_path)
    inventory = yaml.safe_load(lab.state.inventory_file.read_text())
    host, _, port = inventory["alerts"]["listen"].rpartition(":")
    token = (lab.state.secrets / "alerts_token").read_text().strip()
    orange = inventory["escalation"]["orange"]
    emails = {c["name"]: c["email"] for c in inventory["contacts"]}
    seen = len(read_mail(lab.state.mail))
    server = subprocess.Popen(
        [*DR, "alerts", "serve", "-i", str(lab.state.inventory_file), "--insecure-http"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://{host}:{port}"
        wait_until(lambda: _answers(f"{url}/healthz") or server.poll() is not None, timeout=60)
        assert server.poll() is None, server.communicate()[1]
        starts = (datetime.now(UTC) - timedelta(minutes=2)).replace(microsecond=0)
        reply = httpx.post(
            f"{url}/alertmanager",
            json=_alertmanager("CreditServiceDown", starts),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        [outcome] = reply.json()["results"]
        assert "dual-host-cutover" in outcome["command"], outcome
        wanted = {emails[name] for name in orange}
        assert wait_until(
            lambda: wanted <= {str(m["To"]) for m in read_mail(lab.state.mail)[seen:]},
            timeout=60,
        ), f"the orange roster {sorted(wanted)} was not all mailed"
    finally:
        stop_server(server)
    store = IncidentStore(Journal(env["DR_DB"]))
    try:
        incident = store.get(outcome["incident_id"])
    finally:
        store.dispose()
    assert (incident.category, incident.level) == ("equipment", "orange")
    assert incident.outage_started_at == starts
    subjects = [str(m["Subject"]) for m in read_mail(lab.state.mail)[seen:]]
    assert all(incident.id in s for s in subjects), subjects


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _alertmanager(name: str, starts: datetime) -> dict[str, Any]:
    """A firing group as Alertmanager (webhook payload version 4) posts it."""
    labels = {"alertname": name, "instance": "10.77.1.10:8080", "severity": "critical"}
    return {
        "version": "4",
        "groupKey": "{}:{alertname=" + json.dumps(name) + "}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "dr",
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "the credit service does not answer through its VIP"},
                "startsAt": starts.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.invalid:9090/graph",
                "fingerprint": "5e1f00c0ffee0001",
            }
        ],
    }
