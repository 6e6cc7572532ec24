"""The scheduler's jobs for a `postgres-pitr` set, for real: PostgreSQL 15 archiving through
pgBackRest 2.45 into a local repository and an encrypted S3 one (moto over TLS), the
real daemon (APScheduler, jobs in the journal's database, leases), the RPO watchdog on
the newest archived WAL of each repository, and the Prometheus textfile. No mocks.

Time is moved as in test_scheduler: a stored job's next fire time is set to now. The
offsite repository falls behind the real way: its endpoint refuses uploads (403, a key
that lost its write permission) while it can still be read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backups.pitr.init import init_set
from backups.pitr.run import run_backup
from backups.pitr.schedule import choose_type
from backups.pitr.watchdog import freshness
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.scheduler import jobs
from orchestrator.scheduler.daemon import Daemon
from orchestrator.scheduler.monitoring import TEXTFILE_NAME
from tests.support.pitr_site import SET_NAME, Site, Writer, open_site

pytestmark = pytest.mark.integration

RPO = 20
TZ = "Asia/Shanghai"
QUIET = {"rpo_check_interval": "1h", "incident_tick_interval": "1h"}


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with open_site(
        "dr-test-pitr-sched-", archive_timeout="5s", rpo=f"{RPO}s",
        top={"timezone": TZ, "scheduler": QUIET},
    ) as opened:  # fmt: skip
        ctx = opened.context()
        init_set(ctx)
        assert run_backup(ctx, kind="full").status == "ok"
        yield opened


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop(wait=True)


def start_daemon(site: Site, daemons: list[Daemon]) -> Daemon:
    daemon = Daemon(site.inventory, db_url=site.db, textfile_dir=site.base / "textfile")
    daemons.append(daemon)
    daemon.start()
    return daemon


def fire(daemon: Daemon, *job_ids: str) -> None:
    at = datetime.now(UTC) + timedelta(seconds=1)
    for job_id in job_ids:
        daemon.scheduler.modify_job(job_id, next_run_time=at)


def events(site: Site, kind: str, since: int = 0) -> list[Any]:
    journal = Journal(site.db)
    try:
        return [e for e in journal.events(kinds=(kind,)) if e.seq > since]
    finally:
        journal.close()


def last_seq(site: Site) -> int:
    journal = Journal(site.db)
    try:
        found = journal.events()
        return found[-1].seq if found else 0
    finally:
        journal.close()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def metrics(site: Site, *, once: str | None = None, equal: float | None = None) -> dict[str, float]:
    """The textfile's figures; with `once`, after it shows that figure (equal to `equal`):
    a job writes the textfile just after it journals its result."""

    def shown() -> bool:
        values = _read(site)
        return once in values and (equal is None or values[once] == equal)

    if once is not None:
        wait_for(shown, 30, f"{once} in the textfile")
    return _read(site)


def _read(site: Site) -> dict[str, float]:
    path = site.base / "textfile" / TEXTFILE_NAME
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def label(repository: int | None = None) -> str:
    extra = "" if repository is None else f',repository="{repository}"'
    return f'{{set="{SET_NAME}"{extra}}}'


def test_the_scheduler_backs_up_checks_and_verifies_a_pitr_set(site: Site, daemons) -> None:
    daemon = start_daemon(site, daemons)
    jobs_by_id = {job.id: job for job in daemon.scheduler.get_jobs()}
    names = ("backup", "check", "verify", "restore-test")
    assert {f"{name}:{SET_NAME}" for name in names} <= set(jobs_by_id)
    # In the inventory's zone: backups at 01:00 (full Sunday, diff other days), check
    # daily 06:30, verify Saturday 03:00, restore test 02:00 on the first Sunday.
    fires = {name: jobs_by_id[f"{name}:{SET_NAME}"].next_run_time for name in names}
    assert (fires["backup"].hour, fires["backup"].minute) == (1, 0)
    assert (fires["check"].hour, fires["check"].minute) == (6, 30)
    assert (fires["verify"].weekday(), fires["verify"].hour) == (5, 3)
    test_fire = fires["restore-test"]
    assert (test_fire.weekday(), test_fire.day <= 7, test_fire.hour) == (6, True, 2)
    assert fires["backup"].utcoffset() == timedelta(hours=8)
    bset = load_inventory(site.inventory).pitr_sets[0]
    expected, _ = choose_type(bset.schedule, datetime.now(UTC), TZ)
    since = last_seq(site)

    with Writer(site.cluster):
        # Both at once: the second waits for the set's lock, neither fails as busy.
        fire(daemon, f"backup:{SET_NAME}", f"verify:{SET_NAME}")
        wait_for(lambda: events(site, "backup.finished", since), 120, "the backup")
        wait_for(lambda: events(site, "backup.checked", since), 120, "the verify")
        fire(daemon, f"check:{SET_NAME}")
        wait_for(lambda: len(events(site, "backup.checked", since)) == 2, 120, "the check")

    started = events(site, "backup.started", since)[0]
    finished = events(site, "backup.finished", since)[0]
    assert started.data["type"] == expected
    assert f"the {expected} schedule fired last" in started.data["reason"]
    assert finished.data["status"] == "ok", finished.data["errors"]
    assert [b["type"] for b in finished.data["backups"]] == [expected, expected]
    verified, checked = (e for e in events(site, "backup.checked", since))
    assert verified.data["parts"] == ["verify"] and verified.data["archiving"] is None
    assert verified.data["ok"] and [r["ok"] for r in verified.data["repositories"]] == [True] * 2
    assert checked.data["parts"] == ["check"] and checked.data["repositories"] == []
    assert checked.data["ok"] and checked.data["archiving"] == {"ok": True, "error": None}
    # One at a time: the verify ran wholly before the backup or wholly after it.
    assert not started.at < verified.at < finished.at, (started.at, verified.at, finished.at)

    values = metrics(site, once=f"dr_pitr_check_last_success{label()}")
    assert values[f"dr_backup_last_success{label()}"] == 1
    added = sum(b["repository_added_bytes"] for b in finished.data["backups"])
    assert values[f"dr_backup_last_bytes{label()}"] == added > 0
    assert values[f"dr_backup_rpo_target_seconds{label()}"] == RPO
    assert values[f"dr_backup_repository_up{label()}"] == 1
    assert values[f"dr_pitr_check_last_success{label()}"] == 1
    assert values[f"dr_pitr_verify_last_success{label()}"] == 1
    for repository in (1, 2):
        assert values[f"dr_pitr_repository_up{label(repository)}"] == 1
        assert 0 <= values[f"dr_pitr_newest_wal_age_seconds{label(repository)}"] < 60

    # A damaged segment in repo1: the weekly verify finds it, and the textfile says so.
    segments = sorted((site.base / "repo1" / "archive").rglob("0000000*-*"))
    damaged = segments[len(segments) // 2]
    original = damaged.read_bytes()
    try:
        flipped = bytes(b ^ 0xFF for b in original[100:200])
        damaged.write_bytes(original[:100] + flipped + original[200:])
        since = last_seq(site)
        fire(daemon, f"verify:{SET_NAME}")
        wait_for(lambda: events(site, "backup.checked", since), 120, "the second verify")
    finally:
        damaged.write_bytes(original)
    found = events(site, "backup.checked", since)[0].data
    assert found["ok"] is False
    repo1, repo2 = found["repositories"]
    assert not repo1["ok"] and repo2["ok"]
    assert any(line.startswith("repo1: archive ") for line in repo1["findings"]), repo1
    assert metrics(site, once=f"dr_pitr_verify_last_success{label()}", equal=0)


def test_rpo_watchdog_names_the_repository_whose_archive_fell_behind(site: Site, daemons) -> None:
    job_env = jobs.JobEnvironment(site.inventory, site.db, site.base / "textfile")

    def ages() -> dict[int, float | None]:
        return {f.repository: f.age_seconds for f in freshness(site.context())}

    def fresh(repository: int, limit: float) -> bool:
        age = ages()[repository]
        return age is not None and age < limit

    with Writer(site.cluster, interval=0.2):
        wait_for(lambda: fresh(1, RPO / 2) and fresh(2, RPO / 2), 60, "both repositories")
        assert jobs.rpo_watchdog(env=job_env) == []
        since = last_seq(site)

        site.s3.refuse_writes.set()
        try:
            wait_for(lambda: not fresh(2, RPO + 2), 90, "repo2 to fall behind")
            assert fresh(1, RPO), ages()  # archiving into repo1 went on
            daemon = start_daemon(site, daemons)
            fire(daemon, "rpo-watchdog")
            wait_for(lambda: events(site, "rpo.alert", since), 60, "the watchdog's alert")
            alerts = [e.data for e in events(site, "rpo.alert", since)]
            assert [a["repository"] for a in alerts] == [2], alerts
            alert = alerts[0]
            assert alert["backup_set"] == SET_NAME and alert["target_seconds"] == RPO
            s3_location = f"s3://{site.bucket}/credit"
            assert alert["age_seconds"] > RPO and s3_location in alert["location"]
            assert f"repo2 ({s3_location}" in alert["message"]
            assert "newest archived WAL" in alert["message"]
            assert jobs.rpo_watchdog(env=job_env) == []  # one alert per breach
            jobs.export_textfile(env=job_env)
            values = metrics(site)
            assert values[f"dr_pitr_newest_wal_age_seconds{label(2)}"] > RPO
            assert values[f"dr_pitr_newest_wal_age_seconds{label(1)}"] < RPO
            assert values[f"dr_pitr_repository_up{label(2)}"] == 1  # readable, just behind
        finally:
            site.s3.refuse_writes.clear()

        wait_for(lambda: fresh(2, RPO / 2), 90, "repo2 to catch up")
        assert jobs.rpo_watchdog(env=job_env) == []
    recovered = [e.data for e in events(site, "rpo.recovered", since)]
    assert recovered == [{"backup_set": SET_NAME, "repository": 2}]
    assert len(events(site, "rpo.alert", since)) == 1
