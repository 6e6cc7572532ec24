"""The lab's mail room: a failed scheduled backup on the lab reaches the roster by mail.

A real `dr scheduler run` on the lab inventory (its backup set scheduled every 5 s for
the test), while dc-a, where the set's files and database are, is cut off from the
orchestrator (`partition dc-a`): the backup fails for real, the scheduler opens an
incident and mails the blue roster through the lab's SMTP server (lab/mailroom.py).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.mailroom import read_mail
from orchestrator.incidents import IncidentStore
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until

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
        wait_until(lambda: _duty_mail(lab, seen, duty) or daemon.poll() is not None, timeout=120)
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
