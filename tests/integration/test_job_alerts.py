"""Nobody misses a failed backup: a real `dr scheduler run` whose backup fails for real
(restic refuses the wrong password) opens an incident in the journal, mails the roster
through a real SMTP server and tells a dead-man's switch (a real HTTP receiver); a second
failure updates that incident, a good run notes the recovery. An RPO breach and a missed
run do the same, at their own levels. Real restic, real APScheduler, SQLite journal.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from backups.actions.init import init_set
from backups.actions.run import run_backup
from backups.context import BackupContext
from orchestrator.errors import UserInputError
from orchestrator.incidents import IncidentStore
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.scheduler import job_alerts, jobs
from orchestrator.scheduler.daemon import Daemon
from tests.support.console_site import free_port
from tests.support.notify_receivers import HttpReceiver, MailBox

pytestmark = pytest.mark.integration

RESTIC_PASSWORD = "restic-Pw-alerts-73"
WRONG_PASSWORD = "not-the-Pw-alerts-19"
PING_PATH = "/ping/0f4e6c1a-backup-credit"
DUTY, TECH = "wang@alerts-sched.invalid", "zhang@alerts-sched.invalid"


@pytest.fixture
def site(tmp_path, monkeypatch, mailbox, http_receiver) -> dict[str, Any]:
    box, smtp_port = mailbox
    box.clear()
    http_receiver.clear()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name in ("DR_DB", "DR_JOURNAL_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JA_PING_URL", http_receiver.url(PING_PATH))
    (tmp_path / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "report.xml").write_text("<report>征信</report>\n")
    (data / "blob.bin").write_bytes(os.urandom(20_000))
    return {"dir": tmp_path, "box": box, "smtp_port": smtp_port, "http": http_receiver,
            "url": f"sqlite:///{tmp_path / 'journal.sqlite3'}"}  # fmt: skip


def write_inventory(site: dict[str, Any], *, schedule: str, scheduler: dict | None = None,
                    set_extra: dict | None = None) -> Path:  # fmt: skip
    tmp = site["dir"]
    document = {
        "name": "job-alerts-test",
        "environment": "drill",
        "timezone": "Asia/Shanghai",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"}],
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator", "email": DUTY, "language": "en"},
            {"name": "tech-zhang", "role": "tech-team", "email": TECH},
        ],
        "escalation": {"blue": ["duty-wang"], "yellow": ["duty-wang", "tech-zhang"]},
        "notifications": {
            "smtp": {"host": "127.0.0.1", "port": site["smtp_port"], "from": "dr@alerts.invalid"},
            "retries": 0,
        },
        "backup_sets": [
            {
                "name": "credit",
                "host": "db-a",
                "repository": str(tmp / "repo"),
                "password": "file:restic.pass",
                "paths": [str(tmp / "data")],
                "schedule": schedule,
                **(set_extra or {}),
            }
        ],
        "scheduler": {
            "textfile_dir": str(tmp / "textfile"),
            # Only the backup fires within a test's seconds.
            "rpo_check_interval": "1h",
            "incident_tick_interval": "1h",
            **(scheduler or {}),
        },
    }
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def wait_for(
    predicate: Callable[[], Any], timeout: float = 60, what: str = "", *, quiet: bool = False
) -> Any:
    """What `predicate` returned once it was true; None after `timeout` if `quiet`, else
    the test fails there."""
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if quiet and time.monotonic() >= deadline:
            return None
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.2)
    return found


def events(url: str, kind: str) -> list[Any]:
    journal = Journal(url)
    try:
        return journal.events(kinds=(kind,))
    finally:
        journal.close()


def incidents(url: str) -> list[Any]:
    journal = Journal(url)
    store = IncidentStore(journal)
    try:
        return store.incidents()
    finally:
        store.dispose()
        journal.close()


def timeline(url: str, incident_id: str) -> list[Any]:
    journal = Journal(url)
    store = IncidentStore(journal)
    try:
        return store.timeline(incident_id)
    finally:
        store.dispose()
        journal.close()


def pings(http: HttpReceiver) -> list[tuple[str, dict[str, Any]]]:
    return [(r["path"], r["body"]) for r in http.requests if r["path"].startswith(PING_PATH)]


def finished_backups(url: str) -> list[dict[str, Any]]:
    return [e.data for e in events(url, "backup.finished")]


def test_a_failed_scheduled_backup_opens_an_incident_mails_the_roster_and_pings(site):
    box: MailBox = site["box"]
    http: HttpReceiver = site["http"]
    url = site["url"]
    inventory = write_inventory(
        site, schedule="*/5 * * * * *", scheduler={"pings": {"backup:credit": "env:JA_PING_URL"}}
    )
    init_set(BackupContext.for_set(load_inventory(inventory), "credit"))
    # The repository now refuses the job: restic finds no key for this password.
    (site["dir"] / "restic.pass").write_text(WRONG_PASSWORD + "\n")
    command = [sys.executable, "-m", "orchestrator.cli.main", "scheduler", "run",
               "-i", str(inventory), "--db", url]  # fmt: skip
    log = site["dir"] / "scheduler.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=out)
    try:
        # First failure: an incident, blue, system, and the blue roster's mail.
        opened = wait_for(lambda: incidents(url), what="an incident")
        assert len(opened) == 1
        incident = opened[0]
        assert (incident.category, incident.level, incident.status) == ("system", "blue", "open")
        assert "backup:credit" in incident.summary and "备份失败" in incident.summary
        assert "rejects the password" in incident.summary
        assert incident.outage_started_at is None  # the business did not stop
        mail = wait_for(lambda: box.to(DUTY), what="the roster's mail")[0]
        assert incident.id in mail["Subject"] and "opened" in mail["Subject"]
        assert "backup failed" in mail.get_content()
        assert box.to(TECH) == []  # not on the blue roster
        first = finished_backups(url)
        assert first[0]["status"] == "failed"

        # The switch heard the start, then the failure with its reason.
        wait_for(lambda: len(pings(http)) >= 2, what="two pings")
        (start, start_body), (fail, fail_body) = pings(http)[:2]
        assert (start, fail) == (f"{PING_PATH}/start", f"{PING_PATH}/fail")
        assert start_body == {"job": "backup:credit", "stage": "start"}
        assert fail_body["job"] == "backup:credit" and "rejects the password" in fail_body["reason"]

        # Second failure: the same incident, noted, and no second mail.
        wait_for(lambda: len(finished_backups(url)) >= 2, what="a second backup")
        wait_for(lambda: len(alert_events(url, incident.id)) >= 2, what="the repeat noted")
        assert [i.id for i in incidents(url)] == [incident.id]
        repeat = alert_events(url, incident.id)[1]
        assert repeat["status"] == "firing" and repeat["repeat"] is True
        assert len(box.to(DUTY)) == 1

        # The password is right again: the next run succeeds and notes the recovery.
        (site["dir"] / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
        wait_for(lambda: any(b["status"] == "ok" for b in finished_backups(url)), what="ok")
        wait_for(lambda: last_status(url, incident.id) == "resolved", what="the recovery noted")
        recovered = wait_for(lambda: [m for m in box.to(DUTY) if "recovered" in m["Subject"]])
        assert incident.id in recovered[0]["Subject"]
        assert f"dr incident close {incident.id}" in recovered[0].get_content()
        wait_for(lambda: (PING_PATH, {"job": "backup:credit", "stage": "success"})
                 in pings(http), what="the success ping")  # fmt: skip
        # ... and the incident stays open: the operator closes it.
        assert [(i.id, i.status) for i in incidents(url)] == [(incident.id, "open")]
        notes = [e.data.get("note") for e in timeline(url, incident.id)
                 if e.kind == "incident.updated"]  # fmt: skip
        assert any(n and n.startswith("recovered") for n in notes)
        # Good runs after that say nothing more.
        seen = len(alert_events(url, incident.id))
        oks = sum(b["status"] == "ok" for b in finished_backups(url))
        wait_for(lambda: sum(b["status"] == "ok" for b in finished_backups(url)) > oks)
        time.sleep(1)
        assert len(alert_events(url, incident.id)) == seen
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]
    # Neither restic password reached the journal, the switch or the log.
    everything = json.dumps([e.data for e in all_events(url)]) + json.dumps(http.requests)
    everything += log.read_text()
    assert RESTIC_PASSWORD not in everything and WRONG_PASSWORD not in everything
    assert PING_PATH not in log.read_text()  # the ping URL (its token) is never logged


def alert_events(url: str, incident_id: str) -> list[dict[str, Any]]:
    return [e.data for e in timeline(url, incident_id) if e.kind == "incident.alert"]


def last_status(url: str, incident_id: str) -> str | None:
    said = alert_events(url, incident_id)
    return str(said[-1]["status"]) if said else None


def all_events(url: str) -> list[Any]:
    journal = Journal(url)
    try:
        return journal.events()
    finally:
        journal.close()


def test_an_rpo_breach_opens_a_yellow_incident_and_its_recovery_is_mailed(site):
    box: MailBox = site["box"]
    url = site["url"]
    inventory = write_inventory(site, schedule="30 1 * * *", set_extra={"rpo": "1d"})
    journal = Journal(url)
    ctx = BackupContext.for_set(load_inventory(inventory), "credit", journal=journal)
    init_set(ctx)
    run_backup(ctx, at=datetime.now(UTC) - timedelta(days=2))
    job_env = jobs.JobEnvironment(inventory, url, site["dir"] / "textfile")

    assert len(jobs.rpo_watchdog(env=job_env)) == 1
    (incident,) = incidents(url)
    assert (incident.level, incident.category) == ("yellow", "system")
    assert "rpo:credit" in incident.summary and "RPO target 86400s" in incident.summary
    # The yellow roster: both of them.
    assert len(box.to(DUTY)) == 1 and len(box.to(TECH)) == 1
    assert jobs.rpo_watchdog(env=job_env) == []  # the same breach: nothing new
    assert len(alert_events(url, incident.id)) == 1

    run_backup(ctx)  # a fresh good run: the RPO is met again
    jobs.rpo_watchdog(env=job_env)
    assert alert_events(url, incident.id)[-1]["status"] == "resolved"
    assert [m["Subject"] for m in box.to(TECH) if "已恢复" in m["Subject"]] == [
        f"[dr] {incident.id} 已恢复:rpo:credit"  # tech-zhang reads Chinese
    ]
    # ... and when it breaks again later, the same (still open) incident hears of it.
    jobs.rpo_watchdog(env=job_env, now=datetime.now(UTC) + timedelta(days=2))
    assert [i.id for i in incidents(url)] == [incident.id]
    assert alert_events(url, incident.id)[-1]["status"] == "firing"
    assert any("failing again" in m["Subject"] for m in box.to(DUTY))
    journal.close()


def test_a_missed_backup_opens_an_incident_and_fails_its_switch(site, monkeypatch, caplog):
    box: MailBox = site["box"]
    http: HttpReceiver = site["http"]
    url = site["url"]
    inventory = write_inventory(
        site, schedule="30 1 * * *",
        scheduler={"misfire_grace": "30m", "pings": {"backup:credit": "env:JA_PING_URL"}},
    )  # fmt: skip
    init_set(BackupContext.for_set(load_inventory(inventory), "credit"))
    # Leave the store as a daemon down over a fire time an hour ago would.
    down = Daemon(inventory, db_url=url)
    down.scheduler.start(paused=True)
    down.sync_jobs()
    down.scheduler.modify_job("backup:credit", next_run_time=datetime.now(UTC) - timedelta(hours=1))
    down.stop(wait=False)

    daemon = Daemon(inventory, db_url=url)
    caplog.set_level(logging.INFO)
    daemon.start()
    try:
        # Seen once under a full run's load: no incident within 60 s. The daemon's log
        # (the miss, and any error telling of it) then says why.
        found = wait_for(lambda: incidents(url), quiet=True)
        assert found, f"no incident for the missed run; the daemon's log:\n{caplog.text[-4000:]}"
        (incident,) = found
        assert incident.level == "blue" and "计划任务未运行" in incident.summary
        assert "missed its run" in incident.summary
        wait_for(lambda: box.to(DUTY), what="the roster's mail")
        wait_for(lambda: pings(http), what="the ping")
        ((path, body),) = pings(http)
        assert path == f"{PING_PATH}/fail" and "missed its run" in body["reason"]
        assert events(url, "scheduler.job_missed")[0].data["job"] == "backup:credit"

        # The job's next good run recovers the same incident.
        daemon.scheduler.modify_job(
            "backup:credit", next_run_time=datetime.now(UTC) + timedelta(seconds=1)
        )
        wait_for(lambda: last_status(url, incident.id) == "resolved", what="the recovery")
        assert [p for p, _ in pings(http)] == [f"{PING_PATH}/fail", f"{PING_PATH}/start", PING_PATH]
    finally:
        daemon.stop(wait=True)


def test_two_daemons_seeing_one_missed_run_open_one_incident(site):
    url = site["url"]
    inventory = write_inventory(site, schedule="30 1 * * *")
    pair = [Daemon(inventory, db_url=url), Daemon(inventory, db_url=url)]
    fire = datetime.now(UTC) - timedelta(hours=8)
    outcome = job_alerts.missed_outcome("backup:credit", "missed its run (test)")
    assert outcome is not None
    try:
        for daemon in pair:  # as both listeners would, each in its own thread
            daemon._tell_missed(outcome, fire)
    finally:
        for daemon in pair:
            daemon.stop(wait=False)
    (incident,) = incidents(url)
    assert [a["status"] for a in alert_events(url, incident.id)] == ["firing"]
    assert len(site["box"].to(DUTY)) == 1


def test_a_switch_that_cannot_be_reached_never_fails_the_job(site, monkeypatch):
    url = site["url"]
    # A port that was just free: a connection there is refused at once.
    monkeypatch.setenv("JA_PING_URL", f"http://127.0.0.1:{free_port()}/ping/secret-token-7781")
    inventory = write_inventory(
        site, schedule="30 1 * * *",
        scheduler={"pings": {"backup:credit": "env:JA_PING_URL"}, "ping_timeout": "2s"},
    )  # fmt: skip
    init_set(BackupContext.for_set(load_inventory(inventory), "credit"))
    job_env = jobs.JobEnvironment(inventory, url, site["dir"] / "textfile")
    assert jobs.backup("credit", env=job_env) == "ok"
    failed = [e.data for e in events(url, "scheduler.ping_failed")]
    assert [(f["job"], f["stage"]) for f in failed] == [
        ("backup:credit", "start"),
        ("backup:credit", "success"),
    ]
    assert failed[0]["reference"] == "env:JA_PING_URL" and "cannot reach" in failed[0]["error"]
    assert "secret-token-7781" not in json.dumps(failed)
    assert incidents(url) == []  # a good backup: nothing to open


def test_the_daemon_refuses_a_ping_for_a_job_it_does_not_run(site):
    inventory = write_inventory(
        site, schedule="30 1 * * *", scheduler={"pings": {"backup:ledger": "env:JA_PING_URL"}}
    )
    with pytest.raises(UserInputError, match=r"backup:ledger.*backup:credit"):
        Daemon(inventory, db_url=site["url"])
