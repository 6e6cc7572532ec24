"""Point-in-time recovery for real: PostgreSQL 15 archiving through pgBackRest 2.45 into
a local repository and an encrypted S3 one (moto behind TLS), base backups, list,
check, and a restore to a moment between two commits. No mocks.

One cluster serves the module (tests.support.pitr_site: its state lives where the
postgres account, which pgBackRest runs as, can reach it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from backups.pgbackrest.restore import RecoveryTarget
from backups.pitr.init import init_set
from backups.pitr.listing import list_backups
from backups.pitr.restore import restore_cluster
from backups.pitr.run import run_backup
from orchestrator.errors import EXIT_BAD_INPUT
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.local_cluster import LocalCluster
from tests.support.pitr_site import (
    CIPHER_PASS,
    S3_SECRET,
    Site,
    dr,
    open_site,
    postgres_account,
    private_file,
    psql,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with open_site() as opened:
        yield opened


def test_archives_backs_up_and_restores_to_a_moment_between_two_commits(site: Site) -> None:
    timings: dict[str, float] = {}
    started = time.monotonic()
    ctx = site.context()

    initialized = init_set(ctx)

    config = Path(initialized["config_file"])
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert config.stat().st_uid == postgres_account().pw_uid
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
    private_file(wrong, "not-the-pass")
    bad = site.inventory_with("inventory-wrong-pass.yaml", cipher_pass=f"file:{wrong}")
    listing = list_backups(site.context(bad))
    assert all("cipher pass" in (r["error"] or "") for r in listing["repositories"]), listing
    result = run_backup(site.context(bad), kind="diff")
    assert result.status == "failed" and all("cipher pass" in e for e in result.errors)

    prune = dr("backup", "prune", "credit-pitr", "-i", str(site.inventory), "--db", site.db)
    assert prune.returncode == EXIT_BAD_INPUT and "postgres-pitr" in prune.stderr
