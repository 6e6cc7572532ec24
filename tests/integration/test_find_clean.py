"""`dr backup find-clean` for real: restic 0.14 with PostgreSQL 15 dumps, and pgBackRest
2.45's verify. No mocks.

A restic set is backed up three times: a good run; a run after ransomware replaced the
report files with random bytes and scrambled the accounts table (backed up faithfully,
so only the set's validations can tell); a run whose new packs were then overwritten in
the repository (the backup host's disk encrypted). find-clean rejects the last two, each
with its reason, and names the first. A postgres-pitr set: the newest full backup has a
damaged file, a differential one builds on it, and find-clean names the full before.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from sqlalchemy.engine import make_url

from backups.pitr.context import PitrContext
from backups.pitr.find_clean import find_clean
from backups.pitr.init import init_set
from backups.pitr.run import run_backup
from backups.pitr.session import pgbackrest_program
from backups.pitr.settings import server_settings
from orchestrator.errors import EXIT_FAILED
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port
from orchestrator.postgresql.local_cluster import LocalCluster

pytestmark = pytest.mark.integration

RESTIC_PASSWORD = "find-clean-Pw-61c0"
PG_PASSWORD_ENV = "DR_TEST_FIND_CLEAN_PG_PASSWORD"
VALIDATIONS = [
    {"name": "accounts", "sql": "SELECT count(*) FROM accounts", "expect": {"min": 3}},
    {"name": "balance", "sql": "SELECT sum(balance) FROM accounts", "expect": {"equals": 9.5}},
]


def dr(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "orchestrator.cli.main", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), timeout=600
    )


@pytest.fixture
def restic_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_db_url: str) -> dict:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
    (tmp_path / "restic.pass").chmod(0o600)
    data = tmp_path / "data"
    data.mkdir()
    for n in range(10):
        (data / f"R{n:03d}.xml").write_text(f"<report n='{n}'>征信报文</report>\n" * 40)
    url = make_url(postgres_db_url)
    monkeypatch.setenv(PG_PASSWORD_ENV, url.password)
    connect = {"host": url.host, "port": url.port, "user": url.username,
               "password": url.password, "dbname": url.database}  # fmt: skip
    with psycopg2.connect(**connect) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id int primary key, name text, balance numeric)")
        cur.execute("INSERT INTO accounts VALUES (1, '张三', 10.5), (2, 'li', 0), (3, 'w', -1)")
    document = {
        "name": "find-clean-test", "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"},
                  {"name": "db-b", "address": "127.0.0.1", "site": "dc"}],
        "host_pairs": [{"name": "credit", "service": "credit", "primary": "db-a",
                        "standby": "db-b", "vip": "127.0.0.10/8",
                        "database": {"port": url.port, "name": url.database, "user": url.username,
                                     "password": f"env:{PG_PASSWORD_ENV}"}}],
        "backup_sets": [{
            "name": "credit", "host": "db-a", "repository": str(tmp_path / "repo"),
            "password": "file:restic.pass", "paths": [str(data)],
            "databases": [{"name": url.database, "host_pair": "credit"}],
            "restore_test": {"validations": VALIDATIONS},
        }],
    }  # fmt: skip
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document, allow_unicode=True))
    db = f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    return {"base": tmp_path, "inventory": inventory, "db": db, "connect": connect, "data": data}


def _run(site: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return dr("backup", *args[:1], "credit", "-i", str(site["inventory"]), "--db", site["db"],
              *args[1:])  # fmt: skip


def _backed_up(site: dict) -> dict[str, Any]:
    done = _run(site, "run", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_find_clean_rejects_a_ransomed_run_and_a_damaged_one_and_names_the_good_one(restic_set):
    site = restic_set
    assert _run(site, "init").returncode == 0
    good = _backed_up(site)

    # Ransomware on the host: the report files encrypted, the accounts table scrambled.
    for path in site["data"].iterdir():
        path.write_bytes(os.urandom(path.stat().st_size))
    with psycopg2.connect(**site["connect"]) as conn, conn.cursor() as cur:
        cur.execute("UPDATE accounts SET name = md5(name), balance = NULL")
    ransomed = _backed_up(site)  # backed up faithfully: the manifest agrees with it

    # Then the backup host's disk: the newest run's packs overwritten.
    packs = site["base"] / "repo" / "data"
    before = set(packs.glob("??/*"))
    (site["data"] / "R999.xml").write_text("<report>after</report>\n" * 500)
    damaged = _backed_up(site)
    fresh = set(packs.glob("??/*")) - before
    assert fresh
    for pack in fresh:
        pack.chmod(0o600)
        pack.write_bytes(os.urandom(pack.stat().st_size))

    found = _run(site, "find-clean")
    assert found.returncode == 0, found.stdout + found.stderr
    assert f"newest clean backup: {good['run_id']}" in found.stdout
    assert "validation 'balance': the query returned NULL" in found.stdout

    document = json.loads(_run(site, "find-clean", "--json").stdout)
    candidates = [(c["id"], c["verdict"]) for c in document["candidates"]]
    assert candidates == [
        (damaged["run_id"], "rejected"), (ransomed["run_id"], "rejected"), (good["run_id"], "clean")
    ]  # fmt: skip
    assert document["candidates"][0]["reasons"], document  # restic could not read it back
    assert document["clean"]["snapshot"] and document["clean"]["id"] == good["run_id"]

    # Only before the attack's start: the good run, looked at alone.
    ransomed_at = datetime.fromisoformat(document["candidates"][1]["time"])
    earlier = _run(site, "find-clean", "--before", ransomed_at.isoformat(), "--json")
    assert earlier.returncode == 0, earlier.stderr
    assert [c["id"] for c in json.loads(earlier.stdout)["candidates"]] == [good["run_id"]]
    good_at = datetime.fromisoformat(document["candidates"][2]["time"])
    none = _run(site, "find-clean", "--before", (good_at - timedelta(seconds=1)).isoformat())
    assert none.returncode == EXIT_FAILED and "passes the checks" in none.stderr, none.stderr
    events = [e for e in Journal(site["db"]).events() if e.kind == "backup.find_clean"]
    assert len(events) == 4 and events[0].data["clean"]["id"] == good["run_id"]


# ---- postgres-pitr --------------------------------------------------------------------


@pytest.fixture
def pitr_site() -> Iterator[tuple[Path, Path, LocalCluster]]:
    base = Path(tempfile.mkdtemp(prefix="dr-test-find-clean-"))
    base.chmod(0o711)
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    cipher = base / "cipher.pass"
    cipher.write_text("find-clean-Cipher-7a\n")
    cipher.chmod(0o600)
    os.chown(cipher, owner.pw_uid, owner.pw_gid)
    port = find_free_port()
    pitr = {
        "name": "credit-pitr", "kind": "postgres-pitr", "host_pair": "credit", "stanza": "credit",
        "pg_path": str(base / "primary" / "data"), "pg_socket_path": str(base / "primary" / "run"),
        "repositories": [{"type": "posix", "path": str(base / "repo")}],
        "cipher_pass": f"file:{cipher}", "config_file": str(base / "pgbackrest" / "credit.conf"),
        "spool_path": str(base / "spool"), "log_path": str(base / "log"),
        "lock_path": str(base / "lock"), "start_fast": True,
    }  # fmt: skip
    document = {
        "name": "find-clean-pitr", "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"},
                  {"name": "db-b", "address": "127.0.0.1", "site": "dc"}],
        "host_pairs": [{"name": "credit", "service": "credit", "primary": "db-a",
                        "standby": "db-b", "vip": "127.0.0.10/8",
                        "database": {"port": port, "name": "credit", "user": "postgres"}}],
        "backup_sets": [pitr],
    }  # fmt: skip
    inventory = base / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(document))
    loaded = load_inventory(inventory)
    settings = server_settings(loaded, loaded.pitr_sets[0], pgbackrest_program())
    cluster = LocalCluster(base / "primary" / "data", port=port, extra_settings=settings)
    cluster.init(fast=True)
    cluster.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(base / "state"))
        try:
            yield base, inventory, cluster
        finally:
            cluster.stop("immediate")
            shutil.rmtree(base, ignore_errors=True)


def test_find_clean_of_a_pitr_set_names_the_newest_backup_that_verifies(pitr_site):
    base, inventory, cluster = pitr_site
    db = f"sqlite:///{base / 'journal.sqlite3'}"
    ctx = PitrContext.for_set(load_inventory(inventory), "credit-pitr", journal=Journal(db))
    init_set(ctx)
    first = run_backup(ctx, kind="full").backups[0]["label"]
    cluster.psql("CREATE TABLE loans (id int PRIMARY KEY); INSERT INTO loans VALUES (1)")
    second = run_backup(ctx, kind="full").backups[0]["label"]
    cluster.psql("INSERT INTO loans VALUES (2)")
    diff = run_backup(ctx, kind="diff").backups[0]["label"]
    # The second full's largest file, damaged in the repository.
    stored = max((p for p in (base / "repo" / "backup" / "credit" / second).rglob("*")
                  if p.is_file() and p.name != "backup.manifest" and ".manifest" not in p.name),
                 key=lambda p: p.stat().st_size)  # fmt: skip
    with stored.open("r+b") as handle:
        handle.seek(stored.stat().st_size // 2)
        handle.write(os.urandom(64))

    result = find_clean(ctx)
    assert result.clean is not None and result.clean.id == first, result.to_dict()
    verdicts = {c.id: (c.verdict, " ".join(c.reasons)) for c in result.candidates}
    assert list(verdicts) == [diff, second, first]
    assert verdicts[second][0] == "rejected" and "files valid" in verdicts[second][1]
    assert verdicts[diff][0] == "rejected" and f"needs files of {second}" in verdicts[diff][1]

    shown = dr("backup", "find-clean", "credit-pitr", "-i", str(inventory), "--db", db)
    assert shown.returncode == 0 and f"newest clean backup: {first}" in shown.stdout, shown.stderr
    first_stop = datetime.fromisoformat(result.candidates[-1].time)
    none = find_clean(ctx, before=first_stop - timedelta(seconds=1))
    assert none.clean is None and none.exit_code == EXIT_FAILED and none.candidates == []
    assert "backup.find_clean" in {e.kind for e in Journal(db).events()}
