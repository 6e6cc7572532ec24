"""Point-in-time recovery for real: PostgreSQL 15 archiving through pgBackRest 2.45 into
a local repository and an encrypted S3 one (moto behind TLS), base backups, list,
check, and a restore to a moment between two commits. No mocks.

One cluster serves the module; its state lives under a 0711 directory the postgres
account can pass through (pytest's own tmp dirs are 0700 root). pgBackRest runs as
that account, as PostgreSQL's archive_command does.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from backups.pgbackrest.restore import RecoveryTarget
from backups.pitr.context import PitrContext
from backups.pitr.init import init_set
from backups.pitr.listing import list_backups
from backups.pitr.restore import restore_cluster
from backups.pitr.run import run_backup
from backups.pitr.session import pgbackrest_program
from backups.pitr.settings import server_settings
from orchestrator.errors import EXIT_BAD_INPUT
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.local_cluster import LocalCluster
from tests.support.s3_tls import TlsMotoServer, write_certificate

pytestmark = pytest.mark.integration

CIPHER_PASS = "pitr-Cipher-4b7e1d90"
S3_KEY, S3_SECRET = "AKIADRPITRKEY0001", "pitr-S3-Secret-5c2f8e"
S3_KEY_ENV, S3_SECRET_ENV = "DR_TEST_PITR_S3_KEY", "DR_TEST_PITR_S3_SECRET"
BUCKET = "dr-pitr"


@dataclass
class Site:
    base: Path
    inventory: Path
    cluster: LocalCluster
    db: str
    s3_endpoint: str
    cert: Path

    def context(self, inventory: Path | None = None) -> PitrContext:
        loaded = load_inventory(inventory or self.inventory)
        return PitrContext.for_set(loaded, "credit-pitr", journal=Journal(self.db))

    def inventory_with(self, file_name: str, **changes: Any) -> Path:
        return write_inventory(
            self.base, file_name, port=self.cluster.port, s3_endpoint=self.s3_endpoint,
            cert=self.cert, **changes,
        )  # fmt: skip


def _postgres() -> pwd.struct_passwd:
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())


def _private_file(path: Path, text: str) -> None:
    """A secret file only the postgres account (which archive_command runs as) reads."""
    path.write_text(text + "\n")
    path.chmod(0o600)
    owner = _postgres()
    os.chown(path, owner.pw_uid, owner.pw_gid)


def write_inventory(
    base: Path, file_name: str, *, port: int, s3_endpoint: str, cert: Path, **changes: Any
) -> Path:
    pitr: dict[str, Any] = {
        "name": "credit-pitr",
        "kind": "postgres-pitr",
        "host_pair": "credit",
        "stanza": "credit",
        "pg_path": str(base / "primary" / "data"),
        "pg_socket_path": str(base / "primary" / "run"),
        "repositories": [
            {"type": "posix", "path": str(base / "repo1")},
            {
                "type": "s3",
                "endpoint": s3_endpoint,
                "bucket": BUCKET,
                "path": "/credit",
                "uri_style": "path",
                "ca_file": str(cert),
                "access_key_id": f"env:{S3_KEY_ENV}",
                "secret_access_key": f"env:{S3_SECRET_ENV}",
            },
        ],
        "cipher_pass": f"file:{base / 'secrets' / 'cipher.pass'}",
        "archive_timeout": "60s",
        "schedule": {"full": "0 1 * * 0", "diff": "0 1 * * 1-6"},
        "retention": {"full": 2, "diff": 6},
        "config_file": str(base / "pgbackrest" / "credit.conf"),
        "spool_path": str(base / "spool"),
        "log_path": str(base / "log"),
        "lock_path": str(base / "lock"),
        "process_max": 4,
        "start_fast": True,
        "rpo": "5m",
        **changes,
    }
    document = {
        "name": "pitr-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": "db-a", "address": "127.0.0.1", "site": "dc"},
            {"name": "db-b", "address": "127.0.0.1", "site": "dc"},
        ],
        "host_pairs": [
            {
                "name": "credit",
                "service": "credit",
                "primary": "db-a",
                "standby": "db-b",
                "vip": "127.0.0.10/8",
                "database": {"port": port, "name": "credit", "user": "postgres"},
            }
        ],
        "backup_sets": [pitr],
    }
    path = base / file_name
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    base = Path(tempfile.mkdtemp(prefix="dr-test-pitr-"))
    base.chmod(0o711)
    (base / "secrets").mkdir(mode=0o755)
    _private_file(base / "secrets" / "cipher.pass", CIPHER_PASS)
    (base / "s3").mkdir(mode=0o755)
    cert, key = write_certificate(base / "s3")
    cert.chmod(0o644)
    s3 = TlsMotoServer(find_free_port(), cert, key)
    s3.start()
    with pytest.MonkeyPatch.context() as patch:
        # Before the cluster starts: archive_command reads the S3 keys from its environment.
        patch.setenv(S3_KEY_ENV, S3_KEY)
        patch.setenv(S3_SECRET_ENV, S3_SECRET)
        patch.setenv("XDG_STATE_HOME", str(base / "state"))
        s3_client = boto3.client(
            "s3", endpoint_url=s3.url, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
            region_name="us-east-1", verify=str(cert),
        )  # fmt: skip
        s3_client.create_bucket(Bucket=BUCKET)
        port = find_free_port()
        inventory = write_inventory(
            base, "inventory.yaml", port=port, s3_endpoint=s3.endpoint, cert=cert
        )
        loaded = load_inventory(inventory)
        settings = server_settings(loaded, loaded.pitr_sets[0], pgbackrest_program())
        cluster = LocalCluster(base / "primary" / "data", port=port, extra_settings=settings)
        cluster.init(fast=True)
        cluster.start()
        try:
            db = f"sqlite:///{base / 'journal.sqlite3'}"
            yield Site(base, inventory, cluster, db, s3.endpoint, cert)
        finally:
            cluster.stop("immediate")
            s3.stop()
            shutil.rmtree(base, ignore_errors=True)


def dr(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "orchestrator.cli.main", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), timeout=300
    )


def psql(cluster: LocalCluster, sql: str) -> str:
    return cluster.psql(sql, database="postgres").strip()


def test_archives_backs_up_and_restores_to_a_moment_between_two_commits(site: Site) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    ctx = site.context()

    initialized = init_set(ctx)

    config = Path(initialized["config_file"])
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert config.stat().st_uid == _postgres().pw_uid
    assert "archive_command" in initialized["postgresql_settings"]
    again = dr("backup", "init", "credit-pitr", "-i", str(site.inventory), "--db", site.db)
    assert again.returncode == 0, again.stderr  # stanza-create is safe to repeat
    assert "archive_command = 'PGBACKREST_REPO1_CIPHER_PASS=" in again.stdout
    timings["init"] = time.monotonic() - started

    mark = time.monotonic()
    full = run_backup(ctx, kind="full")
    assert full.status == "ok", full.errors
    assert [b["type"] for b in full.backups] == ["full", "full"]
    assert all(b["label"].endswith("F") and b["database_bytes"] > 0 for b in full.backups)
    timings["full"] = time.monotonic() - mark

    psql(site.cluster, "CREATE TABLE loans (id int PRIMARY KEY, note text)")
    psql(site.cluster, "INSERT INTO loans SELECT g, 'before diff' FROM generate_series(1, 100) g")
    mark = time.monotonic()
    diff = dr("backup", "run", "credit-pitr", "-i", str(site.inventory), "--db", site.db,
              "--type", "diff", "--json")  # fmt: skip
    assert diff.returncode == 0, diff.stderr
    made = json.loads(diff.stdout)
    assert [b["type"] for b in made["backups"]] == ["diff", "diff"]
    timings["diff"] = time.monotonic() - mark

    psql(site.cluster, "INSERT INTO loans SELECT g, 'before' FROM generate_series(101, 200) g")
    time.sleep(1.1)
    target = datetime.fromisoformat(psql(site.cluster, "SELECT to_json(clock_timestamp())#>>'{}'"))
    time.sleep(1.1)
    psql(site.cluster, "INSERT INTO loans SELECT g, 'after' FROM generate_series(201, 300) g")

    mark = time.monotonic()
    checked = dr("backup", "check", "credit-pitr", "-i", str(site.inventory), "--db", site.db,
                 "--json")  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verdict = json.loads(checked.stdout)
    assert verdict["archiving"]["ok"] and [r["ok"] for r in verdict["repositories"]] == [True, True]
    timings["check"] = time.monotonic() - mark

    listed = dr("backup", "list", "credit-pitr", "-i", str(site.inventory), "--db", site.db,
                "--json")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    for repo in document["repositories"]:
        assert [b["type"] for b in repo["backups"]] == ["full", "diff"], repo
        assert repo["error"] is None and repo["wal"]["newest_arrived"] is not None
    window = document["recovery_window"]
    assert datetime.fromisoformat(window["from"]) < target < datetime.fromisoformat(window["to"])
    assert document["rpo"]["met"] is True
    shown = dr("backup", "list", "credit-pitr", "-i", str(site.inventory), "--db", site.db)
    assert shown.returncode == 0 and "recovery window:" in shown.stdout, shown.stderr

    # The data centre's repository is gone: restore from the offsite one alone.
    (site.base / "repo1").rename(site.base / "repo1.gone")
    mark = time.monotonic()
    restored_dir = site.base / "restored" / "data"
    restored = restore_cluster(ctx, restored_dir, RecoveryTarget.at_time(target), repository=2)
    assert restored["status"] == "ok"
    auto_conf = (restored_dir / "postgresql.auto.conf").read_text()
    assert "restore_command" in auto_conf and "cat " in auto_conf
    copy = LocalCluster(restored_dir, port=find_free_port(), name="dr-test-restored")
    copy.start(timeout=120)
    try:
        assert wait_until(lambda: psql(copy, "SELECT pg_is_in_recovery()") == "f", timeout=120)
        timings["restore"] = time.monotonic() - mark
        counts = psql(
            copy, "SELECT count(*) FILTER (WHERE id <= 200), count(*) FILTER (WHERE id > 200) "
            "FROM loans",
        )  # fmt: skip
        assert counts == "200|0"
    finally:
        copy.stop("immediate")
        (site.base / "repo1.gone").rename(site.base / "repo1")

    everything = json.dumps([e.data for e in Journal(site.db).events()])
    everything += config.read_text() + auto_conf + diff.stdout + checked.stdout + listed.stdout
    for secret in (CIPHER_PASS, S3_SECRET):
        assert secret not in everything
    assert {"backup.started", "backup.finished", "backup.checked", "pitr.restored"} <= {
        e.kind for e in Journal(site.db).events()
    }
    print(f"timings: { {k: round(v, 1) for k, v in timings.items()} }")


def test_a_wrong_cipher_pass_and_a_missing_stanza_say_what_to_do(site: Site) -> None:
    absent = site.inventory_with(
        "inventory-absent.yaml", stanza="absent",
        repositories=[{"type": "posix", "path": str(site.base / "repo-absent")}],
    )  # fmt: skip
    result = run_backup(site.context(absent), kind="full")
    assert result.status == "failed"
    assert "no pgBackRest stanza yet" in result.errors[0] and "dr backup init" in result.errors[0]
    listing = list_backups(site.context(absent))
    assert "no pgBackRest stanza yet" in listing["repositories"][0]["error"]
    shown = dr("backup", "run", "credit-pitr", "-i", str(absent), "--db", site.db, "--type", "full")
    assert shown.returncode == 1 and "dr backup init" in shown.stderr, shown.stdout

    wrong = site.base / "secrets" / "wrong.pass"
    _private_file(wrong, "not-the-pass")
    bad = site.inventory_with("inventory-wrong-pass.yaml", cipher_pass=f"file:{wrong}")
    listing = list_backups(site.context(bad))
    assert all("cipher pass" in (r["error"] or "") for r in listing["repositories"]), listing
    result = run_backup(site.context(bad), kind="diff")
    assert result.status == "failed" and all("cipher pass" in e for e in result.errors)

    prune = dr("backup", "prune", "credit-pitr", "-i", str(site.inventory), "--db", site.db)
    assert prune.returncode == EXIT_BAD_INPUT and "postgres-pitr" in prune.stderr
