"""Backups for real: restic 0.14, PostgreSQL 15, sshd (SFTP), moto (S3). No mocks.

Each test builds a small inventory in its tmp dir; dr's state (set locks) goes there too.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import blake3
import psycopg2
import pytest
import yaml
from sqlalchemy.engine import make_url

from backups import catalog, execute
from backups.actions.check import check_set
from backups.actions.init import init_set
from backups.actions.list import list_backups
from backups.actions.prune import prune_set
from backups.actions.run import run_backup
from backups.context import BackupContext
from orchestrator.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    BackupSetBusy,
    BackupTimedOut,
    RepositoryLocked,
    RepositoryNotFound,
    RepositoryUnreachable,
    WrongRepositoryPassword,
)
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port

pytestmark = pytest.mark.integration

RESTIC_PASSWORD = "restic-Pw-7c1e9a"
PG_PASSWORD_ENV = "DR_TEST_BACKUP_PG_PASSWORD"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Private dr state, a repository password file and a tree of files to back up."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
    (tmp_path / "restic.pass").chmod(0o600)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "report.xml").write_text("<report>征信</report>\n")
    (data / "sub" / "blob.bin").write_bytes(os.urandom(50_000))
    return tmp_path


def write_inventory(tmp_path: Path, backup_set: dict[str, Any], db: dict | None = None) -> Path:
    document: dict[str, Any] = {
        "name": "backup-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": "db-a", "address": "127.0.0.1", "site": "dc"},
            {"name": "db-b", "address": "127.0.0.1", "site": "dc"},
        ],
        "backup_sets": [
            {
                "name": "credit",
                "host": "db-a",
                "repository": str(tmp_path / "repo"),
                "password": "file:restic.pass",
                "paths": [str(tmp_path / "data")],
                "tags": ["credit"],
                **backup_set,
            }
        ],
    }
    if db is not None:
        document["host_pairs"] = [
            {
                "name": "credit",
                "service": "credit",
                "primary": "db-a",
                "standby": "db-b",
                "vip": "127.0.0.10/8",
                "database": db,
            }
        ]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def context(inventory: Path, journal: Journal | None = None) -> BackupContext:
    return BackupContext.for_set(load_inventory(inventory), "credit", journal=journal)


@pytest.fixture
def credit_db(postgres_db_url, monkeypatch):
    """A database with two tables; returns (inventory database block, url, name)."""
    url = make_url(postgres_db_url)
    monkeypatch.setenv(PG_PASSWORD_ENV, url.password)
    conn = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    )
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id int primary key, name text, balance numeric)")
        cur.execute("INSERT INTO accounts VALUES (1, '张三', 10.5), (2, 'li', 0), (3, 'w', -1)")
        cur.execute("CREATE SCHEMA credit")
        cur.execute("CREATE TABLE credit.reports (id serial primary key, body text)")
        cur.execute(
            "INSERT INTO credit.reports (body) SELECT 'r' || g FROM generate_series(1, 500) g"
        )
    conn.close()
    block = {
        "port": url.port,
        "name": url.database,
        "user": url.username,
        "password": f"env:{PG_PASSWORD_ENV}",
    }
    return block, url


def dr(*args: str, env_extra: dict[str, str] | None = None, prefix: list[str] | None = None):
    command = [*(prefix or []), sys.executable, "-m", "orchestrator.cli.main", *args]
    environment = {**os.environ, **(env_extra or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_files_and_database_backup_is_listed_with_a_correct_manifest(
    env, credit_db, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG, logger="dr.backups")
    block, url = credit_db
    inventory = write_inventory(
        tmp_path, {"databases": [{"name": url.database, "host_pair": "credit"}]}, db=block
    )
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    ctx = context(inventory, journal)
    init_set(ctx)

    result = run_backup(ctx)

    assert result.status == "ok" and result.exit_code == 0, result.errors
    data_bytes = sum(p.stat().st_size for p in (tmp_path / "data").rglob("*") if p.is_file())
    [database] = result.databases
    assert result.files == 2
    assert result.bytes == data_bytes + database["bytes"]
    assert database["status"] == "ok" and database["tables"] == 2 and database["rows"] == 503
    assert result.rpo_point is not None

    listing = list_backups(ctx)
    [run] = listing["runs"]
    assert run["run_id"] == result.run_id and run["status"] == "ok"
    part = f"db-{url.database}"
    assert set(run["parts"]) == {"files", part}
    assert listing["last_good"]["run_id"] == result.run_id

    session = ctx.session()
    manifest = catalog.read_manifest(
        session, catalog.runs(catalog.set_snapshots(session, "credit"))[0]
    )
    assert manifest.status == "ok" and manifest.run_id == result.run_id
    # restic 0.14 reports short ids at backup time; the listing has the full ones.
    assert sorted(manifest.snapshot_ids()) == sorted(i[:8] for i in run["parts"].values())
    by_path = {entry.path: entry for entry in manifest.files.files}
    blob = tmp_path / "data" / "sub" / "blob.bin"
    assert manifest.format == "dr-backup-manifest/3" and manifest.hash_algorithm == "blake3"
    assert by_path[str(blob)].digest == blake3.blake3(blob.read_bytes()).hexdigest()
    assert by_path[str(blob)].size == 50_000
    [dumped] = manifest.databases
    assert {name: t.rows for name, t in dumped.tables.items()} == {
        "public.accounts": 3,
        "credit.reports": 500,
    }
    assert all(t.checksum.startswith("md5sum60:") for t in dumped.tables.values())

    events = journal.events(result.run_id)
    assert [e.kind for e in events] == ["backup.started", "backup.finished"]
    assert events[-1].data["snapshots"] == result.snapshots
    everything = json.dumps([e.data for e in journal.events()]) + caplog.text
    assert_no_secret(everything, RESTIC_PASSWORD, url.password)


def test_a_database_of_a_county_unions_size_is_backed_up_and_read_back_whole(
    env, credit_db, tmp_path
):
    """A dump far larger than a pipe buffer: `pg_restore --list` stops reading at the
    table of contents, and the read-back must still hash the whole stored dump rather
    than interrupt restic (the bug a fresh lab showed on every run)."""
    block, url = credit_db
    conn = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    )
    with conn, conn.cursor() as cur:
        # About 150 MB of table data that compresses no better than real loan records.
        cur.execute(
            "CREATE TABLE credit.repayments AS SELECT g AS id,"
            " md5(g::text) || md5((g * 7)::text) || md5(random()::text) AS detail"
            " FROM generate_series(1, 1200000) g"
        )
        cur.execute("SELECT pg_total_relation_size('credit.repayments')")
        (table_bytes,) = cur.fetchone()
    conn.close()
    assert table_bytes > 100 * 2**20
    inventory = write_inventory(
        tmp_path, {"databases": [{"name": url.database, "host_pair": "credit"}]}, db=block
    )
    ctx = context(inventory, Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}"))
    init_set(ctx)

    result = run_backup(ctx)

    assert result.status == "ok" and result.exit_code == 0, result.errors
    [database] = result.databases
    assert database["status"] == "ok" and database["rows"] == 503 + 1_200_000
    assert database["bytes"] > 20 * 2**20


def test_failed_pg_dump_fails_the_run_and_leaves_no_dump_snapshot(
    env, credit_db, tmp_path, postgres_server
):
    block, url = credit_db
    # A table the backup role may not read: pg_dump fails before writing anything.
    postgres_server.psql("CREATE TABLE private_t (x int);", url.database)
    databases = [
        {"name": url.database, "host_pair": "credit"},
        {"name": "no_such_db", "host_pair": "credit"},
    ]
    inventory = write_inventory(tmp_path, {"databases": databases}, db=block)
    db = f"sqlite:///{tmp_path}/j.db"
    assert dr("backup", "init", "credit", "-i", str(inventory), "--db", db).returncode == 0

    done = dr("backup", "run", "credit", "-i", str(inventory), "--json", "--db", db)

    assert done.returncode == EXIT_FAILED and done.stdout, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "failed" and result["rpo_point"] is None
    failed = {d["name"]: d["status"] for d in result["databases"]}
    assert failed == {url.database: "failed", "no_such_db": "failed"}
    assert "pg_dump" in done.stderr and "permission denied" in done.stderr
    assert "no_such_db" in done.stderr and "cannot connect" in done.stderr

    # A pg_dump that dies half-way: restic 0.14 saves the truncated stream as a
    # snapshot, which dr must remove. The stand-in runs the real pg_dump, passes on
    # its first 4 KiB, then exits 1, as a pg_dump killed mid-dump would.
    postgres_server.psql("DROP TABLE private_t;", url.database)
    bin_dir = tmp_path / "pgbin"
    bin_dir.mkdir()
    real = "/usr/lib/postgresql/15/bin"
    (bin_dir / "pg_dump").write_text(f'#!/bin/sh\n{real}/pg_dump "$@" | head -c 4096\nexit 1\n')
    (bin_dir / "pg_dump").chmod(0o755)
    (bin_dir / "pg_restore").symlink_to(f"{real}/pg_restore")
    one_db = write_inventory(tmp_path, {"databases": databases[:1]}, db=block)

    cut = dr("backup", "run", "credit", "-i", str(one_db), "--json", "--db", db,
             env_extra={"DR_PG_BIN_DIR": str(bin_dir)})  # fmt: skip

    assert cut.returncode == EXIT_FAILED and json.loads(cut.stdout)["status"] == "failed"
    assert "pg_dump" in cut.stderr and "exited 1" in cut.stderr and "was removed" in cut.stderr
    session = context(inventory).session()
    tags = [t for s in session.snapshots() for t in s.tags]
    assert not [t for t in tags if t.startswith("dr-part:db-")]
    found = catalog.runs(catalog.set_snapshots(session, "credit"))
    assert [(r.status, set(r.parts)) for r in found] == [("failed", {"files"})] * 2
    assert_no_secret(done.stdout + done.stderr + cut.stderr, RESTIC_PASSWORD, url.password)


def test_unreadable_file_makes_a_partial_run_that_keeps_the_rpo_clock(env, tmp_path):
    inventory = write_inventory(tmp_path, {"rpo": "1d"})
    ctx = context(inventory)
    init_set(ctx)
    good = run_backup(ctx)
    secret = tmp_path / "data" / "locked.txt"
    secret.write_text("unreadable")
    secret.chmod(0)
    # As root every file is readable; without these two capabilities root is an
    # ordinary owner, and a mode-000 file is unreadable, so restic exits 3.
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]

    done = dr(
        "backup",
        "run",
        "credit",
        "-i",
        str(inventory),
        "--json",
        "--db",
        f"sqlite:///{tmp_path}/j.db",
        prefix=drop,
    )

    assert done.returncode == EXIT_FAILED, done.stderr
    partial = json.loads(done.stdout)
    assert partial["status"] == "partial"
    assert partial["unreadable"] == [str(secret)]
    assert str(secret) in done.stderr
    assert "Permission denied" in done.stderr  # restic's own words for why
    assert partial["rpo_point"] is None and partial["snapshots"]["files"]
    listing = list_backups(ctx)
    assert [r["status"] for r in listing["runs"]] == ["ok", "partial"]
    assert listing["last_good"]["run_id"] == good.run_id


def test_a_second_run_of_the_same_set_waits_or_refuses(env, tmp_path):
    inventory = write_inventory(tmp_path, {"hooks": {"before": ["sleep 4"]}})
    init_set(context(inventory))
    db = f"sqlite:///{tmp_path}/j.db"
    command = ["backup", "run", "credit", "-i", str(inventory), "--db", db]
    first = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        refused = dr("backup", "run", "credit", "-i", str(inventory), "--db", db)
        assert refused.returncode == EXIT_FAILED
        assert "is busy" in refused.stderr and str(first.pid) in refused.stderr
        waited = dr("backup", "run", "credit", "-i", str(inventory), "--db", db, "--wait", "60")
        assert waited.returncode == 0, waited.stderr
    finally:
        first.wait(timeout=60)
    assert first.returncode == 0
    with pytest.raises(BackupSetBusy):
        from backups.locks import backup_set_lock

        with backup_set_lock("credit"):
            run_backup(context(inventory))


def hold_repository_lock(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A real restic holding a lock: `backup --stdin` waiting for input that never ends."""
    environment = {
        **os.environ,
        "RESTIC_REPOSITORY": str(tmp_path / "repo"),
        "RESTIC_PASSWORD_FILE": str(tmp_path / "restic.pass"),
    }
    holder = subprocess.Popen(
        ["restic", "backup", "--stdin", "--stdin-filename", "hold"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=environment,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not list((tmp_path / "repo" / "locks").iterdir()):
        assert time.monotonic() < deadline, "restic never took its lock"
        time.sleep(0.1)
    return holder


def test_repository_lock_is_removed_only_if_ours_dead_and_old(env, tmp_path):
    inventory = write_inventory(tmp_path, {"lock_wait": 2, "lock_stale_after": "1h"})
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    init_set(context(inventory))
    locks_dir = tmp_path / "repo" / "locks"

    alive = hold_repository_lock(tmp_path)
    try:
        with pytest.raises(RepositoryLocked) as busy:
            check_set(context(inventory, journal), subset="none")
        assert f"PID {alive.pid}" in busy.value.message and "still running" in busy.value.message
        assert len(list(locks_dir.iterdir())) == 1
    finally:
        alive.kill()
        alive.wait()

    # Dead now, but younger than lock_stale_after: still not ours to remove.
    with pytest.raises(RepositoryLocked) as dead:
        check_set(context(inventory, journal), subset="none")
    assert "process is gone" in dead.value.message
    assert len(list(locks_dir.iterdir())) == 1

    young_enough = write_inventory(tmp_path, {"lock_wait": 2, "lock_stale_after": 0})
    document = check_set(context(young_enough, journal), subset="none")

    assert document["ok"]
    assert list(locks_dir.iterdir()) == []
    [removed] = journal.events(kinds=("backup.lock_removed",))
    assert removed.data["pid"] == alive.pid


def test_retention_keeps_exactly_the_runs_the_policy_names(env, tmp_path):
    inventory = write_inventory(tmp_path, {"retention": {"keep_daily": 3, "keep_weekly": 1}})
    ctx = context(inventory)
    init_set(ctx)
    day0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # a Monday
    made = {}
    for offset, hour in [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (4, 9)]:
        at = day0 + timedelta(days=offset, hours=hour - 1)
        made[(offset, hour)] = run_backup(ctx, at=at.replace(tzinfo=None)).run_id
    # An unsealed leftover (a run that died before its manifest), older than good runs.
    session = ctx.session()
    session.restic(
        ["backup", "--host", "db-a", "--time", "2026-03-01 00:00:00", "--tag",
         "dr-set:credit,dr-run:dead-run,dr-part:files", str(tmp_path / "data")],
        what="test",
    )  # fmt: skip

    document = prune_set(ctx)

    # keep_daily 3: the newest run of each of the last three days; keep_weekly 1: the
    # newest of the week, already kept. Everything else goes, the leftover too.
    kept = {made[(2, 1)], made[(3, 1)], made[(4, 9)]}
    assert set(document["kept_runs"]) == kept
    assert set(document["removed_runs"]) == {made[(0, 1)], made[(1, 1)], made[(4, 1)], "dead-run"}
    remaining = catalog.runs(catalog.set_snapshots(session, "credit"))
    assert {r.run_id for r in remaining} == kept
    assert all(set(r.parts) == {"files"} and r.manifest for r in remaining)


def test_wrong_password_and_missing_repository_say_what_to_do(env, tmp_path):
    inventory = write_inventory(tmp_path, {})
    with pytest.raises(RepositoryNotFound) as missing:
        run_backup(context(inventory))
    assert "dr backup init credit" in missing.value.message
    init_set(context(inventory))
    (tmp_path / "restic.pass").write_text("not-the-password\n")

    done = dr("backup", "run", "credit", "-i", str(inventory), "--db", f"sqlite:///{tmp_path}/j.db")

    assert done.returncode == EXIT_BAD_INPUT
    assert "rejects the password" in done.stderr
    assert_no_secret(done.stderr, "not-the-password", RESTIC_PASSWORD)
    with pytest.raises(WrongRepositoryPassword):
        list_backups(context(inventory))


def test_a_journal_that_cannot_open_stops_the_run_before_any_backup_is_sealed(env, tmp_path):
    inventory = write_inventory(tmp_path, {})
    init_set(context(inventory))
    (tmp_path / "not-a-directory").write_text("")
    bad_db = f"sqlite:///{tmp_path / 'not-a-directory' / 'journal.sqlite3'}"

    done = dr("backup", "run", "credit", "-i", str(inventory), "--db", bad_db)

    # The journal opens while restic already runs (to start restic sooner): its failure
    # still ends the run with the journal's message, restic stopped, nothing sealed.
    assert done.returncode == EXIT_FAILED, done.stderr
    assert "cannot open the journal" in done.stderr and "Traceback" not in done.stderr
    session = context(inventory).session()
    statuses = {r.status for r in catalog.runs(catalog.set_snapshots(session, "credit"))}
    assert statuses <= {catalog.UNSEALED}
    assert restic_locks(tmp_path) == []


def test_sftp_repository_through_a_real_sshd(env, tmp_path, sshd_server):
    endpoint = sshd_server.endpoint("backup")
    access = {
        "port": endpoint.port,
        "key_file": str(endpoint.key_file),
        "known_hosts": str(endpoint.known_hosts),
    }
    location = f"sftp:{endpoint.user}@127.0.0.1:{tmp_path}/sftp-repo"
    inventory = write_inventory(tmp_path, {"repository": location, "sftp": access})
    ctx = context(inventory)
    init_set(ctx)

    result = run_backup(ctx)

    assert result.status == "ok", result.errors
    assert (tmp_path / "sftp-repo" / "config").is_file()
    assert [r["status"] for r in list_backups(ctx)["runs"]] == ["ok"]
    closed = write_inventory(
        tmp_path, {"repository": location, "sftp": {**access, "port": find_free_port()}}
    )
    with pytest.raises(RepositoryUnreachable):
        list_backups(context(closed))


@pytest.fixture
def moto_s3(monkeypatch):
    from moto.server import ThreadedMotoServer

    port = find_free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("DR_TEST_S3_KEY", "AKIADRTESTKEY0001")
    monkeypatch.setenv("DR_TEST_S3_SECRET", "s3-Secret-9f8e7d6c5b4a")
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_offsite_copy_to_s3_on_a_versioned_bucket(env, tmp_path, moto_s3, caplog):
    caplog.set_level(logging.DEBUG, logger="dr.backups")
    copy_to = {
        "repository": f"s3:{moto_s3}/dr-offsite/credit",
        "password": "file:restic.pass",
        "s3": {"access_key_id": "env:DR_TEST_S3_KEY", "secret_access_key": "env:DR_TEST_S3_SECRET"},
    }
    inventory = write_inventory(tmp_path, {"copy_to": copy_to})
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    ctx = context(inventory, journal)

    created = init_set(ctx)

    assert created["copy_to"]["bucket_created"] and created["copy_to"]["versioning"] == "Enabled"
    result = run_backup(ctx)
    assert result.status == "ok" and result.copy["status"] == "ok", result.errors
    offsite = ctx.copy_session()
    [run] = catalog.runs(catalog.set_snapshots(offsite, "credit"))
    assert run.run_id == result.run_id and run.status == "ok" and set(run.parts) == {"files"}
    manifest = catalog.read_manifest(offsite, run)
    assert manifest.files is not None and len(manifest.files.files) == 2
    everything = json.dumps([e.data for e in journal.events()]) + caplog.text
    assert_no_secret(everything, "s3-Secret-9f8e7d6c5b4a", RESTIC_PASSWORD)


# -- time limits: a hook that sleeps, a pg_dump blocked by a table lock, a slow restic --


@pytest.fixture
def short_grace(monkeypatch):
    # A hook's background child ignores SIGINT (sh does that for `&`): it is SIGKILLed
    # after the grace, which need not be the production 5 s here; restic, interrupted
    # while deriving its key on a busy machine, still gets time to remove its lock.
    monkeypatch.setattr(execute, "STOP_GRACE_S", 2.0)


def restic_locks(tmp_path) -> list[str]:
    return os.listdir(tmp_path / "repo" / "locks")


def gone(pid: int) -> bool:
    """Dead, or a zombie waiting for init to reap it."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            state = stat.rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def test_a_before_hook_past_its_limit_is_stopped_with_its_children(env, tmp_path, short_grace):
    pid_file = tmp_path / "sleeper.pid"
    hook = f"sleep 60 & echo $! > {pid_file}; wait"
    inventory = write_inventory(tmp_path, {"hooks": {"before": [hook]}, "timeouts": {"hook": 1}})
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    ctx = context(inventory, journal)
    init_set(ctx)

    started = time.monotonic()
    result = run_backup(ctx)

    assert time.monotonic() - started < 20
    assert result.status == "failed" and not result.snapshots
    assert "ran past its time limit of 1s (timeouts.hook)" in result.errors[0]
    assert result.hooks[0]["timed_out"] is True and result.hooks[0]["exit_code"] is None
    sleeper = int(pid_file.read_text())
    assert gone(sleeper), "the hook's child outlived the limit"
    [timeout] = journal.events(kinds=("backup.timeout",))
    assert timeout.run_id == result.run_id
    assert timeout.data["what"] == "before hook" and timeout.data["limit_seconds"] == 1
    assert catalog.set_snapshots(ctx.session(), "credit") == []
    assert restic_locks(tmp_path) == []


def test_a_dump_blocked_past_its_limit_leaves_no_dump_snapshot(
    env, credit_db, tmp_path, short_grace
):
    block, url = credit_db
    inventory = write_inventory(
        tmp_path,
        {"databases": [{"name": url.database, "host_pair": "credit"}], "timeouts": {"dump": 2}},
        db=block,
    )
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    ctx = context(inventory, journal)
    init_set(ctx)
    # pg_dump locks every table it dumps; an open ACCESS EXCLUSIVE lock makes it wait.
    holder = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    )
    try:
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        result = run_backup(ctx)
    finally:
        holder.rollback()
        holder.close()

    assert result.status == "failed" and result.rpo_point is None
    [database] = result.databases
    assert database["status"] == "failed" and database["snapshot"] is None
    assert any("ran past its time limit of 2s (timeouts.dump)" in e for e in result.errors)
    [timeout] = journal.events(kinds=("backup.timeout",))
    assert timeout.data["setting"] == "timeouts.dump"
    # No pg_dump of ours is left waiting on the lock.
    waiting = subprocess.run(
        ["pgrep", "-f", f"pg_dump.*--dbname {url.database}"], capture_output=True
    )
    assert waiting.returncode == 1, waiting.stdout
    runs = catalog.runs(catalog.set_snapshots(ctx.session(), "credit"))
    # The run is sealed as failed (files only); the dump has no snapshot at all.
    assert [(r.status, set(r.parts)) for r in runs] == [("failed", {"files"})]
    assert restic_locks(tmp_path) == []


def test_a_restic_command_past_its_limit_fails_the_run_and_frees_its_lock(
    env, tmp_path, short_grace
):
    # Enough data that restic cannot finish within a second on this machine.
    big = tmp_path / "data" / "big"
    big.mkdir()
    for n in range(6):
        (big / f"blob-{n}.bin").write_bytes(os.urandom(32 << 20))
    unlimited = write_inventory(tmp_path, {})
    init_set(context(unlimited))
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    ctx = context(write_inventory(tmp_path, {"timeouts": {"restic": 1}}), journal)

    with pytest.raises(BackupTimedOut) as stopped:
        run_backup(ctx)

    assert "restic backup ran past its time limit of 1s (the set's timeouts.restic)" in (
        stopped.value.message
    )
    kinds = [e.kind for e in journal.events()]
    # restic 0.14 leaks the lock it is writing if SIGINT comes just then; dr removes
    # such a lock of its own stopped child at once (backup.lock_removed).
    assert kinds[:2] == ["backup.started", "backup.timeout"] and kinds[-1] == "backup.finished"
    assert set(kinds[2:-1]) <= {"backup.lock_removed"}
    assert journal.events(kinds=("backup.finished",))[0].data["status"] == "failed"
    assert restic_locks(tmp_path) == []
    assert catalog.set_snapshots(context(write_inventory(tmp_path, {})).session(), "credit") == []
