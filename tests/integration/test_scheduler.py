"""`dr scheduler`: real APScheduler, real restic repositories, SQLite and PostgreSQL.

Time is controlled by moving a stored job's next fire time (the state a daemon leaves
behind when it is down over a fire time), never by waiting for real cron times. Counting
jobs are module functions (APScheduler stores jobs by reference) that append a line to a
file next to the inventory, so executions from every daemon and thread are counted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from backups import catalog
from backups.actions.init import init_set
from backups.actions.run import run_backup
from backups.context import BackupContext
from orchestrator.cli.scheduler_cmd import app as scheduler_app
from orchestrator.errors import UserInputError
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.scheduler import jobs
from orchestrator.scheduler.cron import to_trigger
from orchestrator.scheduler.daemon import DEFAULT_FUNCTIONS, Daemon
from orchestrator.scheduler.exclusive import LeaseStore
from orchestrator.scheduler.monitoring import TEXTFILE_NAME

pytestmark = pytest.mark.integration

RESTIC_PASSWORD = "restic-Pw-sched-41"
REPO_ROOT = Path(__file__).resolve().parents[2]
COUNTING = "tests.integration.test_scheduler:count_run"
FAKE_RESTORE_TEST = "tests.integration.test_scheduler:fake_restore_test"


# ---- jobs injected through the daemon's `functions` ----------------------------------


def count_run(set_name: str, *, env: jobs.JobEnvironment | None = None) -> None:
    assert env is not None
    """Record start and end of a run; slow enough that overlapping runs would show."""
    log = env.inventory_path.parent / "runs.log"
    with log.open("a") as out:
        out.write(f"start {set_name} {time.time()}\n")
    time.sleep(1.5)
    with log.open("a") as out:
        out.write(f"end {set_name} {time.time()}\n")


def fake_restore_test(ctx: BackupContext) -> None:
    """Stands in for backups.actions.restore_test until it exists: journals a pass."""
    finished = _now().replace(microsecond=0)
    data = {
        "outcome": "passed",
        "started_at": (finished - timedelta(seconds=12)).isoformat(),
        "finished_at": finished.isoformat(),
    }
    ctx.record("restore_test.finished", data)


# ---- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("DR_DB", raising=False)
    (tmp_path / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "report.xml").write_text("<report>征信</report>\n")
    (data / "blob.bin").write_bytes(os.urandom(40_000))
    return tmp_path


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'journal.sqlite3'}"


def write_inventory(
    tmp_path: Path, *, set_extra: dict[str, Any] | None = None, scheduler: dict | None = None
) -> Path:
    document = {
        "name": "scheduler-test",
        "environment": "drill",
        "timezone": "Asia/Shanghai",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"}],
        "backup_sets": [
            {
                "name": "credit",
                "host": "db-a",
                "repository": str(tmp_path / "repo"),
                "password": "file:restic.pass",
                "paths": [str(tmp_path / "data")],
                "schedule": "30 1 * * *",
                **(set_extra or {}),
            }
        ],
        "scheduler": {"textfile_dir": str(tmp_path / "textfile"), **(scheduler or {})},
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def counting_daemon(inventory: Path, url: str, **kwargs: Any) -> Daemon:
    functions = {**DEFAULT_FUNCTIONS, "backup": COUNTING}
    return Daemon(
        inventory,
        db_url=url,
        functions=functions,
        restore_test_function=FAKE_RESTORE_TEST,
        **kwargs,
    )


def move_fire_time(
    inventory: Path, url: str, job_id: str, when: datetime, *, counting: bool = True
) -> None:
    """Leave the store as a daemon that was down at `when` would: job due at `when`."""
    daemon = counting_daemon(inventory, url) if counting else Daemon(inventory, db_url=url)
    daemon.scheduler.start(paused=True)
    daemon.sync_jobs()
    daemon.scheduler.modify_job(job_id, next_run_time=when)
    daemon.stop(wait=False)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop(wait=True)


def runs(tmp_path: Path) -> list[tuple[str, float]]:
    log = tmp_path / "runs.log"
    if not log.exists():
        return []
    return [(w[0], float(w[2])) for w in (line.split() for line in log.read_text().splitlines())]


def wait_for(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def metrics(textfile_dir: Path) -> dict[str, float]:
    values = {}
    for line in (textfile_dir / TEXTFILE_NAME).read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _now() -> datetime:
    return datetime.now(UTC)


# ---- tests ------------------------------------------------------------------------------


def test_cron_is_translated_with_crons_weekdays_and_or_rule():
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday

    def next_fire(expression: str) -> datetime:
        fire = to_trigger(expression, "UTC").get_next_fire_time(None, start)
        assert fire is not None
        return fire

    assert next_fire("0 2 * * 0#1") == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)  # 1st Sunday
    assert next_fire("0 2 * * 0") == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 0 is Sunday
    assert next_fire("0 2 * * 7") == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    # cron ORs a restricted day of month with a restricted weekday: Sunday the 29th.
    assert next_fire("0 2 1-7 * 0") == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
    assert next_fire("0 3 * * 1-5") == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    # A sixth, leading field is seconds; five fields keep firing at second 0.
    later = start + timedelta(seconds=1)
    assert to_trigger("*/10 * * * * *", "UTC").get_next_fire_time(None, later) == datetime(
        2026, 11, 27, 12, 0, 10, tzinfo=UTC
    )
    assert to_trigger("* * * * *", "UTC").get_next_fire_time(None, later) == datetime(
        2026, 11, 27, 12, 1, tzinfo=UTC
    )
    assert next_fire("15 0 2 * * 0") == datetime(2026, 11, 29, 2, 0, 15, tzinfo=UTC)
    with pytest.raises(UserInputError, match="5 fields"):
        to_trigger("* * * *", "UTC")


def test_scheduled_backup_runs_and_the_textfile_shows_it(env, sqlite_url, daemons):
    inventory = write_inventory(env, set_extra={"rpo": "1d"})
    journal = Journal(sqlite_url)
    init_set(BackupContext.for_set(load_inventory(inventory), "credit", journal=journal))
    daemon = Daemon(inventory, db_url=sqlite_url)
    daemons.append(daemon)
    daemon.start()
    job = daemon.scheduler.get_job("backup:credit")
    # 01:30 Asia/Shanghai, from the set's own schedule.
    assert (job.next_run_time.hour, job.next_run_time.minute) == (1, 30)
    daemon.scheduler.modify_job("backup:credit", next_run_time=_now() + timedelta(seconds=1))

    wait_for(lambda: journal.events(kinds=("backup.finished",)), timeout=60)
    finished = journal.events(kinds=("backup.finished",))[0].data
    assert finished["status"] == "ok"
    session = BackupContext.for_set(load_inventory(inventory), "credit").session()
    good = catalog.last_good_run(catalog.runs(catalog.set_snapshots(session, "credit")))
    assert good is not None and good.run_id == finished["run_id"]

    # The backup job writes the textfile as soon as it is done.
    textfile = env / "textfile"
    wait_for(lambda: (textfile / TEXTFILE_NAME).exists())
    values = metrics(textfile)
    assert values['dr_backup_last_bytes{set="credit"}'] == finished["bytes"] > 40_000
    assert values['dr_backup_last_duration_seconds{set="credit"}'] == pytest.approx(
        finished["duration_seconds"]
    )
    assert values['dr_backup_last_success{set="credit"}'] == 1
    assert values['dr_backup_repository_up{set="credit"}'] == 1
    assert 0 <= values['dr_backup_newest_snapshot_age_seconds{set="credit"}'] < 60
    assert values['dr_backup_rpo_target_seconds{set="credit"}'] == 86400
    text = (textfile / TEXTFILE_NAME).read_text()
    assert "# TYPE dr_backup_newest_snapshot_age_seconds gauge" in text
    assert "# HELP dr_backup_last_bytes " in text
    assert not [p for p in textfile.iterdir() if p.name != TEXTFILE_NAME]  # no temp left


def test_restore_test_job_result_reaches_the_textfile(env, sqlite_url, daemons):
    inventory = write_inventory(env)
    daemon = counting_daemon(inventory, sqlite_url)
    daemons.append(daemon)
    daemon.start()
    # Default schedule: 02:00 on the first Sunday of the month, in the inventory's zone.
    first = daemon.scheduler.get_job("restore-test:credit").next_run_time
    assert (first.weekday(), first.day <= 7, first.hour, first.minute) == (6, True, 2, 0)
    daemon.scheduler.modify_job("restore-test:credit", next_run_time=_now())
    textfile = env / "textfile"
    wait_for(lambda: (textfile / TEXTFILE_NAME).exists())
    values = metrics(textfile)
    assert values['dr_restore_test_last_success{set="credit"}'] == 1
    assert values['dr_restore_test_last_duration_seconds{set="credit"}'] == 12
    assert abs(values['dr_restore_test_last_timestamp_seconds{set="credit"}'] - time.time()) < 60
    # No repository was made: it shows as down, with no invented snapshot age.
    assert values['dr_backup_repository_up{set="credit"}'] == 0
    assert 'dr_backup_newest_snapshot_age_seconds{set="credit"}' not in values


def test_missed_run_runs_once_on_restart_within_the_grace(env, sqlite_url, daemons):
    inventory = write_inventory(
        env, set_extra={"schedule": "* * * * *"}, scheduler={"misfire_grace": "6h"}
    )
    # Down for three hours over a job due every minute: 180 fire times missed.
    move_fire_time(inventory, sqlite_url, "backup:credit", _now() - timedelta(hours=3))
    daemon = counting_daemon(inventory, sqlite_url)
    daemons.append(daemon)
    daemon.start()
    wait_for(lambda: len(runs(env)) == 2)
    time.sleep(1)
    assert [kind for kind, _ in runs(env)] == ["start", "end"]  # once, not 180 times
    assert daemon.scheduler.get_job("backup:credit").next_run_time > _now()


def test_missed_run_older_than_the_grace_is_skipped(env, sqlite_url, daemons):
    inventory = write_inventory(env, scheduler={"misfire_grace": "30m"})
    missed = _now() - timedelta(hours=1)
    move_fire_time(inventory, sqlite_url, "backup:credit", missed)
    daemon = counting_daemon(inventory, sqlite_url)
    daemons.append(daemon)
    daemon.start()
    journal = Journal(sqlite_url)
    wait_for(lambda: journal.events(kinds=("scheduler.job_missed",)))
    time.sleep(1)
    assert runs(env) == []
    event = journal.events(kinds=("scheduler.job_missed",))[0].data
    assert event["job"] == "backup:credit"
    # The next run is tonight's (01:30 Asia/Shanghai), not the stale one.
    upcoming = daemon.scheduler.get_job("backup:credit").next_run_time
    assert upcoming > _now() and (upcoming.hour, upcoming.minute) == (1, 30)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_daemons_on_one_database_run_a_job_once(env, sqlite_url, daemons, database, request):
    url = sqlite_url if database == "sqlite" else request.getfixturevalue("postgres_db_url")
    inventory = write_inventory(env)
    move_fire_time(inventory, url, "backup:credit", _now() - timedelta(minutes=1))
    pair = [counting_daemon(inventory, url), counting_daemon(inventory, url)]
    daemons.extend(pair)
    threads = [threading.Thread(target=d.start) for d in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: len(runs(env)) >= 2)
    time.sleep(2.5)  # long enough for a second run to have started and ended
    assert [kind for kind, _ in runs(env)] == ["start", "end"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_leases_give_each_fire_time_to_one_holder_at_a_time(sqlite_url, database, request):
    url = sqlite_url if database == "sqlite" else request.getfixturevalue("postgres_db_url")
    stores = [LeaseStore(url, f"daemon-{i}", ttl_seconds=1) for i in range(4)]
    fire = _now()
    inside: list[str] = []
    overlaps: list[str] = []
    claimed: list[datetime] = []
    lock = threading.Lock()

    def contend(store: LeaseStore) -> None:
        for minute in (0, 0, 1, 1, 2, 2):
            when = fire + timedelta(minutes=minute)
            with store.hold("job", when) as held:
                if not held:
                    continue
                with lock:
                    overlaps.extend(inside)
                    inside.append(store.holder)
                    claimed.append(when)
                time.sleep(0.05)
                with lock:
                    inside.remove(store.holder)

    threads = [threading.Thread(target=contend, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    # No fire time ran twice, and none ran after a later one (that one supersedes it).
    assert claimed and claimed == sorted(set(claimed))
    assert claimed[0] == fire

    # A daemon killed while running a job: its lease stays, and nothing renews it.
    assert stores[1]._claim("crashed", fire.timestamp())
    with stores[2].hold("crashed", fire + timedelta(minutes=1)) as taken:
        assert taken is False
    time.sleep(1.2)  # past the lease's ttl
    with stores[2].hold("crashed", fire + timedelta(minutes=1)) as taken:
        assert taken is True
    for store in stores:
        store.close()


def test_rpo_watchdog_alerts_once_when_the_newest_good_run_is_too_old(env, sqlite_url):
    inventory = write_inventory(env, set_extra={"rpo": "1d"})
    journal = Journal(sqlite_url)
    ctx = BackupContext.for_set(load_inventory(inventory), "credit", journal=journal)
    init_set(ctx)
    run_backup(ctx, at=_now() - timedelta(days=2))
    job_env = jobs.JobEnvironment(inventory, sqlite_url, env / "textfile")

    alerts = jobs.rpo_watchdog(env=job_env)
    assert [a["backup_set"] for a in alerts] == ["credit"]
    assert alerts[0]["age_seconds"] > 86400 and alerts[0]["target_seconds"] == 86400
    assert journal.events(kinds=("rpo.alert",))[0].data["newest_run"] == alerts[0]["newest_run"]
    assert jobs.rpo_watchdog(env=job_env) == []  # the same breach is not repeated

    run_backup(ctx)  # a fresh good run: the RPO is met again
    assert jobs.rpo_watchdog(env=job_env) == []
    assert [e.data["backup_set"] for e in journal.events(kinds=("rpo.recovered",))] == ["credit"]
    # ... until that one grows too old as well.
    assert len(jobs.rpo_watchdog(env=job_env, now=_now() + timedelta(days=2))) == 1


def test_jobs_json_lists_next_run_times(env, sqlite_url):
    inventory = write_inventory(env)
    runner = CliRunner()
    before = runner.invoke(
        scheduler_app, ["jobs", "-i", str(inventory), "--db", sqlite_url, "--json"]
    )
    assert before.exit_code == 0, before.output
    document = json.loads(before.output)
    by_id = {row["id"]: row for row in document["jobs"]}
    assert set(by_id) == {
        "backup:credit",
        "restore-test:credit",
        "rpo-watchdog",
        "textfile",
        "incident-tick",
    }
    assert not any(row["stored"] for row in by_id.values())
    backup_next = datetime.fromisoformat(by_id["backup:credit"]["next_run_time"])
    assert backup_next.utcoffset() == timedelta(hours=8)
    assert (backup_next.hour, backup_next.minute) == (1, 30)

    move_fire_time(
        inventory, sqlite_url, "backup:credit", datetime(2026, 1, 1, tzinfo=UTC), counting=False
    )
    after = runner.invoke(
        scheduler_app, ["jobs", "-i", str(inventory), "--db", sqlite_url, "--json"]
    )
    rows = {row["id"]: row for row in json.loads(after.output)["jobs"]}
    assert rows["backup:credit"]["stored"] is True
    # A missed fire time is shown as it stands: it is what will run on restart.
    assert rows["backup:credit"]["next_run_time"] == "2026-01-01T08:00:00+08:00"
    # ... and listing it did not consume it.
    again = runner.invoke(
        scheduler_app, ["jobs", "-i", str(inventory), "--db", sqlite_url, "--json"]
    )
    assert json.loads(again.output)["jobs"] == json.loads(after.output)["jobs"]


def test_systemd_unit_is_valid():
    unit = REPO_ROOT / "ansible" / "files" / "dr-scheduler.service"
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    service = sections["Service"]
    assert service["Type"] == ["simple"] and service["User"] == ["dr"]
    assert service["ExecStart"] == ["/opt/dr/.venv/bin/dr scheduler run -i /etc/dr/inventory.yaml"]
    assert service["Restart"] == ["on-failure"]
    assert service["EnvironmentFile"] and service["NoNewPrivileges"] == ["yes"]
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]
    if shutil.which("systemd-analyze") is None:
        return
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # /opt/dr is not installed on a test machine; anything else is a real finding.
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if line.strip() and "/opt/dr/.venv/bin/dr" not in line
    ]
    assert problems == []


def test_scheduler_run_command_runs_jobs_and_stops_on_sigterm(env, sqlite_url):
    inventory = write_inventory(
        env, set_extra={"rpo": "1h"}, scheduler={"rpo_check_interval": "10s"}
    )
    command = [
        sys.executable, "-c", "from orchestrator.cli.scheduler_cmd import app; app()",
        "run", "-i", str(inventory), "--db", sqlite_url, "--textfile-dir", str(env / "prom"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Both interval jobs fire after 10s: the watchdog finds no readable repository.
        wait_for(lambda: (env / "prom" / TEXTFILE_NAME).exists(), timeout=40)
        journal = Journal(sqlite_url)
        wait_for(lambda: journal.events(kinds=("rpo.alert",)), timeout=20)
        assert "cannot be read" in journal.events(kinds=("rpo.alert",))[0].data["message"]
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    # backup, restore test, RPO watchdog, textfile, incident tick
    assert "scheduler running with 5 jobs" in err


def test_the_restore_test_job_calls_the_real_restore_test_action():
    import importlib

    from backups.actions import restore_test as restore_action
    from orchestrator.scheduler import jobs as scheduler_jobs

    module, _, name = scheduler_jobs.RESTORE_TEST_FUNCTION.partition(":")
    assert getattr(importlib.import_module(module), name) is restore_action.restore_test


# ---- real `dr scheduler run` processes on one database -------------------------------


def start_scheduler(inventory: Path, url: str, name: str) -> subprocess.Popen[bytes]:
    """A real `dr scheduler run`; its log goes to NAME.log beside the inventory."""
    command = [sys.executable, "-m", "orchestrator.cli.main", "scheduler", "run",
               "-i", str(inventory), "--db", url]  # fmt: skip
    with (inventory.parent / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)


def wait_until_running(process: subprocess.Popen[bytes], inventory: Path, name: str) -> None:
    log = inventory.parent / f"{name}.log"
    deadline = time.monotonic() + 60
    while "scheduler running with" not in log.read_text():
        assert process.poll() is None, f"the scheduler exited: {log.read_text()}"
        assert time.monotonic() < deadline, "the scheduler never started"
        time.sleep(0.1)


def wait_or_kill(process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    """Wait for a signalled daemon; kill it if it does not stop (never leave it behind)."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True


def backup_runs(url: str) -> list[tuple[datetime, datetime | None]]:
    """(started, finished) of every backup run in the journal, oldest first."""
    journal = Journal(url)
    try:
        events = journal.events(kinds=("backup.started", "backup.finished"))
    finally:
        journal.close()
    started = {e.run_id: datetime.fromisoformat(e.at) for e in events if e.kind.endswith("started")}
    ended = {e.run_id: datetime.fromisoformat(e.at) for e in events if e.kind.endswith("finished")}
    return sorted((at, ended.get(run_id)) for run_id, at in started.items())


def quiet_scheduler(env: Path, schedule: str) -> Path:
    """Only the backup fires within a test's seconds: the interval jobs wait an hour."""
    interval = {"rpo_check_interval": "1h", "incident_tick_interval": "1h"}
    inventory = write_inventory(env, set_extra={"schedule": schedule}, scheduler=interval)
    init_set(BackupContext.for_set(load_inventory(inventory), "credit"))
    return inventory


def test_two_scheduler_processes_on_one_database_run_each_fire_time_once(env, sqlite_url):
    inventory = quiet_scheduler(env, "*/4 * * * * *")  # every 4 seconds
    names = ["daemon-a", "daemon-b"]
    pair = [start_scheduler(inventory, sqlite_url, name) for name in names]
    try:
        for process, name in zip(pair, names, strict=True):
            wait_until_running(process, inventory, name)
        wait_for(lambda: len([r for r in backup_runs(sqlite_url) if r[1]]) >= 3, timeout=60)
    finally:
        for process in pair:
            process.send_signal(signal.SIGTERM)
        stopped_in_time = [wait_or_kill(process) for process in pair]
    assert stopped_in_time == [True, True], "a scheduler did not stop on SIGTERM"
    assert [p.returncode for p in pair] == [0, 0]
    found = backup_runs(sqlite_url)
    # One run per 4-second fire time, never two at once, whichever daemon ran it.
    windows = [int(started.timestamp()) // 4 for started, _ in found]
    assert len(windows) == len(set(windows)), found
    for (_, ended), (next_started, _) in pairwise(found):
        assert ended is not None and ended <= next_started, found
    # Both daemons were due to run them: the one that lost a fire time said so.
    logs = "".join((env / f"{name}.log").read_text() for name in names)
    assert "not starting it here" in logs or "was already run by a daemon" in logs


def test_a_killed_scheduler_runs_the_missed_job_once_on_restart(env, sqlite_url):
    inventory = quiet_scheduler(env, "*/10 * * * * *")  # every 10 seconds
    first = start_scheduler(inventory, sqlite_url, "first")
    wait_until_running(first, inventory, "first")
    # Killed between fire times and with no job running (a job killed half-way holds
    # its lease until the lease expires, which is another test's subject).
    log = env / "first.log"

    def idle() -> bool:
        text = log.read_text()
        return text.count("Running job") == text.count("executed successfully")

    wait_for(lambda: 2 <= time.time() % 10 <= 6 and idle(), timeout=40)
    first.kill()
    first.wait()
    before = len(backup_runs(sqlite_url))
    missed = (int(time.time()) // 10 + 1) * 10
    # Down over the next fire time; back one second after it.
    time.sleep(missed + 1 - time.time())
    assert len(backup_runs(sqlite_url)) == before
    second = start_scheduler(inventory, sqlite_url, "second")
    try:
        wait_until_running(second, inventory, "second")
        wait_for(lambda: any(end for _, end in backup_runs(sqlite_url)[before:]), timeout=30)
        following = missed + 10
        after_restart = [start for start, _ in backup_runs(sqlite_url)[before:]]
        # The missed run started on restart, before the next fire time, and only once.
        assert len([s for s in after_restart if s.timestamp() < following]) == 1, after_restart
        assert after_restart[0].timestamp() > missed
    finally:
        second.send_signal(signal.SIGTERM)
        stopped_in_time = wait_or_kill(second)
    assert stopped_in_time, "the scheduler did not stop on SIGTERM"
