"""The restore test for real: restic 0.14, PostgreSQL 15, a local repository. No mocks.

Every failure case must end with outcome "failed", exit code 1, its exact cause in the
output and in the journal, and no scratch data or scratch server left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from backups import catalog
from backups import manifest as mf
from backups.actions.init import init_set
from backups.actions.restore_test import restore_test
from backups.actions.run import run_backup
from backups.restore.scratch_pg import PREFIX
from lab.storage_faults import corrupt_pack
from orchestrator.errors import EXIT_FAILED
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port
from tests.integration.test_backups import PG_PASSWORD_ENV, RESTIC_PASSWORD, context
from tests.integration.test_backups import write_inventory as write_base

pytestmark = pytest.mark.integration

VALIDATIONS = [
    {"name": "accounts", "sql": "SELECT count(*) FROM accounts", "expect": {"min": 3}},
    {"name": "balance", "sql": "SELECT sum(balance) FROM accounts", "expect": {"equals": 9.5}},
    {
        "name": "fresh loans",
        "sql": "SELECT max(issued_at) FROM credit.loans",
        "expect": {"not_older_than": "2d"},
    },
]


@pytest.fixture(autouse=True)
def own_tempdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own temporary directory, inherited by the `dr` it starts (TMPDIR): the
    suite runs in two workers, and another test's scratch servers are not this one's
    leftovers. Traversable, as the postgres account must reach its scratch cluster."""
    base = Path(tempfile.mkdtemp(prefix="dr-test-tmp-"))
    base.chmod(0o711)
    monkeypatch.setenv("TMPDIR", str(base))
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "report.xml").write_text("<report>征信</report>\n")
    (data / "sub" / "blob.bin").write_bytes(os.urandom(2_000_000))
    return tmp_path


@pytest.fixture
def credit_db(postgres_db_url, monkeypatch):
    url = make_url(postgres_db_url)
    monkeypatch.setenv(PG_PASSWORD_ENV, url.password)
    conn = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    )
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE accounts (id int primary key, name text, balance numeric)")
        cur.execute("INSERT INTO accounts VALUES (1, '张三', 10.5), (2, 'li', 0), (3, 'w', -1)")
        cur.execute("CREATE SCHEMA credit")
        cur.execute("CREATE TABLE credit.loans (id serial primary key, issued_at timestamptz)")
        cur.execute(
            "INSERT INTO credit.loans (issued_at) "
            "SELECT now() - g * interval '1 hour' FROM generate_series(1, 300) g"
        )
    conn.close()
    block = {
        "port": url.port,
        "name": url.database,
        "user": url.username,
        "password": f"env:{PG_PASSWORD_ENV}",
    }
    return block, url.database


def write_inventory(tmp_path: Path, extra: dict, db: tuple | None = None) -> Path:
    if db is None:
        return write_base(tmp_path, extra)
    block, name = db
    return write_base(
        tmp_path, {"databases": [{"name": name, "host_pair": "credit"}], **extra}, db=block
    )


def dr_restore_test(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The command as the operator runs it, standing alone until main.py registers it.
    script = (
        "import typer; from orchestrator.cli.restore_cmd import restore_test; "
        "typer.run(restore_test)"
    )
    command = [sys.executable, "-c", script, "credit", "-i", str(inventory), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def leftovers() -> list[str]:
    """Scratch directories in this test's temporary directory, and processes whose
    command line names one."""
    scratch = Path(tempfile.gettempdir()) / PREFIX
    found = [str(p) for p in scratch.parent.glob(f"{PREFIX}*")]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(scratch) in cmdline:
            found.append(f"pid {proc.name}: {cmdline}")
    return found


def test_a_good_backup_restores_verifies_and_meets_its_targets(env, credit_db, tmp_path):
    test = {"validations": VALIDATIONS}
    inventory = write_inventory(
        tmp_path, {"rto": "1h", "rpo": "1d", "restore_test": test}, credit_db
    )
    init_set(context(inventory))
    run_backup(context(inventory))
    good = run_backup(context(inventory))
    db = f"sqlite:///{tmp_path / 'journal.sqlite3'}"

    done = dr_restore_test(inventory, "--json", "--db", db)

    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(done.stdout)
    assert record["outcome"] == "passed" and record["cause"] is None
    assert record["run_id"] == good.run_id
    assert record["files"]["verified"] == record["files"]["expected"] == 2
    [database] = record["databases"]
    assert database["tables_verified"] == 2 and database["rows"] == 303
    assert [v["problem"] for v in record["validations"]] == [None, None, None]
    assert record["bytes"] > 2_000_000
    for key in ("rto", "rpo", "max_gap"):
        assert record["measurements"][key]["verdict"] == "met", key
    assert record["measurements"]["rto"]["target_seconds"] == 3600
    [event] = Journal(db).events(kinds=("restore_test.finished",))
    assert event.data["outcome"] == "passed" and event.data["snapshot_id"] == record["snapshot_id"]
    # The same figures as measurement rows, where the drills' RTO/RPO are kept.
    rows = {m.name: m for m in Journal(db).measurements(record["test_id"])}
    assert set(rows) == {"rto_seconds", "rpo_seconds", "rpo_max_gap_seconds"}
    assert all(m.source == "restore_test" and m.met is True for m in rows.values())
    assert rows["rto_seconds"].value_seconds == record["measurements"]["rto"]["seconds"]
    assert rows["rto_seconds"].target_seconds == 3600
    assert rows["rpo_seconds"].target_seconds == 86400
    assert rows["rpo_seconds"].detail["snapshot_id"] == record["snapshot_id"]
    assert rows["rpo_seconds"].detail["backup_set"] == "credit"
    assert leftovers() == []

    human = dr_restore_test(inventory, "--db", db)
    assert human.returncode == 0 and "PASSED" in human.stdout and "2/2 verified" in human.stdout


def test_a_corrupt_pack_fails_the_test(env, tmp_path):
    inventory = write_inventory(tmp_path, {})
    init_set(context(inventory))
    run_backup(context(inventory))
    corrupt_pack(tmp_path / "repo", seed=7, record=tmp_path / "corruption.json")

    done = dr_restore_test(inventory, "--json", "--db", f"sqlite:///{tmp_path}/j.db")

    assert done.returncode == EXIT_FAILED
    record = json.loads(done.stdout)
    assert record["outcome"] == "failed"
    assert "ciphertext verification failed" in record["cause"], record["cause"]
    assert "ciphertext verification failed" in done.stderr
    assert leftovers() == []


def test_files_that_change_between_hashing_and_restic_reading_them_are_no_damage(
    env, tmp_path, monkeypatch
):
    """Once the manifest listed dr's walk and the restore test failed on such files;
    now they are recorded as changed while backed up. Real damage: see
    test_manifest_matches_snapshot.py."""
    inventory = write_inventory(tmp_path, {})
    init_set(context(inventory))
    report, late = tmp_path / "data" / "report.xml", tmp_path / "data" / "late.txt"
    hash_tree = mf.hash_tree

    def then_change(paths: list[str], cache: object = None) -> list[mf.HashedFile]:
        # Files changing between hashing and restic reading them.
        entries = hash_tree(paths)
        report.write_text("<report>changed</report>\n")
        late.write_text("appeared after hashing\n")
        return entries

    monkeypatch.setattr(mf, "hash_tree", then_change)
    result = run_backup(context(inventory))
    monkeypatch.undo()
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")

    record = restore_test(context(inventory, journal))

    assert result.status == "ok" and record.outcome == "passed", record.cause
    session = context(inventory).session()
    [run] = catalog.runs(catalog.set_snapshots(session, "credit"))
    by_path = {e.path: e for e in catalog.read_manifest(session, run).files.files}
    # dr hashes two files in milliseconds, long before restic, still opening the
    # repository, reads any: it stores both as they are after the change.
    assert by_path[str(report)].changed_during_backup
    assert by_path[str(late)].changed_during_backup and by_path[str(late)].digest is None
    moved = record.files["changed_while_backed_up"]
    assert record.files["verified"] + moved["count"] == record.files["expected"] == 3
    assert str(late) in moved["shown"]
    [event] = journal.events(kinds=("restore_test.finished",))
    assert event.data["outcome"] == "passed"
    assert leftovers() == []


def test_a_daily_run_reuses_unchanged_hashes_and_still_restores_true(env, tmp_path):
    inventory = write_inventory(tmp_path, {})
    init_set(context(inventory))
    time.sleep(1.1)  # hashes of files changed within a second of hashing are not reused
    first = run_backup(context(inventory))
    report = tmp_path / "data" / "report.xml"
    before = report.stat()
    report.write_text("<report>改了</report>\n")  # same size, and the same mtime below
    os.utime(report, ns=(before.st_atime_ns, before.st_mtime_ns))

    second = run_backup(context(inventory))
    record = restore_test(context(inventory))

    assert (first.hashes_reused, second.hashes_reused) == (0, 1)  # blob.bin only
    assert record.outcome == "passed", record.cause
    assert record.run_id == second.run_id and record.files["verified"] == 2


def test_a_validation_on_a_missing_table_fails_the_test(env, credit_db, tmp_path):
    test = {
        "validations": [
            {"name": "loans", "sql": "SELECT count(*) FROM loans", "expect": {"min": 1}}
        ]
    }
    inventory = write_inventory(tmp_path, {"restore_test": test}, credit_db)
    init_set(context(inventory))
    run_backup(context(inventory))

    done = dr_restore_test(inventory, "--db", f"sqlite:///{tmp_path}/j.db")

    assert done.returncode == EXIT_FAILED and "FAILED" in done.stdout
    assert "validation 'loans': the query failed: relation \"loans\" does not exist" in done.stderr
    assert leftovers() == []


def test_repository_faults_fail_the_test_with_their_cause(env, tmp_path, monkeypatch):
    inventory = write_inventory(tmp_path, {"rto": "1h", "rpo": "1d"})
    db = f"sqlite:///{tmp_path}/j.db"

    missing = dr_restore_test(inventory, "--db", db)
    assert (
        missing.returncode == EXIT_FAILED and "there is no restic repository at" in missing.stderr
    )

    init_set(context(inventory))
    run_backup(context(inventory))
    (tmp_path / "restic.pass").write_text("not-the-password\n")
    wrong = dr_restore_test(inventory, "--json", "--db", db)
    assert wrong.returncode == EXIT_FAILED
    assert "rejects the password" in json.loads(wrong.stdout)["cause"]
    assert "not-the-password" not in wrong.stdout + wrong.stderr

    monkeypatch.setenv("DR_TEST_S3_KEY", "AKIADRTESTKEY0001")
    monkeypatch.setenv("DR_TEST_S3_SECRET", "s3-Secret-9f8e7d6c5b4a")
    s3 = {"access_key_id": "env:DR_TEST_S3_KEY", "secret_access_key": "env:DR_TEST_S3_SECRET"}
    closed = f"s3:http://127.0.0.1:{find_free_port()}/bucket/credit"
    offline = write_inventory(tmp_path, {"repository": closed, "s3": s3})
    unreachable = dr_restore_test(offline, "--db", db)
    assert (
        unreachable.returncode == EXIT_FAILED
        and "cannot reach the repository" in unreachable.stderr
    )
    assert "connection refused" in unreachable.stderr

    finished = Journal(db).events(kinds=("restore_test.finished",))
    causes = [e.data["cause"] for e in finished]
    assert len(causes) == 3 and all(causes)
    # A test that could not restore measured nothing, and met no objective it has
    # (the S3 set has no targets: there `met` stays unknown).
    met = []
    for event in finished:
        rows = Journal(db).measurements(event.data["test_id"])
        assert [m.name for m in rows] == ["rto_seconds", "rpo_seconds", "rpo_max_gap_seconds"]
        assert all(m.value_seconds is None for m in rows)
        assert all(m.detail["outcome"] == "failed" and m.detail["cause"] for m in rows)
        met.append({m.met for m in rows})
    assert met == [{False}, {False}, {None}]
    assert leftovers() == []
