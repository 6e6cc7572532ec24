"""Commands that only read refuse a journal URL that names no journal (a missing SQLite
file, an empty file, a PostgreSQL database without the journal's tables) with exit 2 and
the URL, instead of creating an empty journal and reporting on nothing; commands that
record still create it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from orchestrator.errors import EXIT_BAD_INPUT
from orchestrator.journal import Journal

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data"
ROOT = Path(__file__).parent.parent.parent
DRILL_INV = str(DATA / "engine-drill.yaml")

READ_ONLY = [
    ("journal", "verify"),
    ("runs", "list"),
    ("runs", "show", "no-such-run"),
    ("incident", "list"),
    ("report", "rto-rpo", "--from", "2026-11-01", "--to", "2026-11-30"),
    ("report", "summary", "-i", str(ROOT / "inventory/lab.yaml"), "--quarter", "2026-Q4"),
    ("report", "drill", "no-such-run"),
    # Resuming and approving read a run first: there is none in a journal that is not there.
    ("resume", "no-such-run"),
    ("approve", "no-such-run", "step-1"),
]


def dr(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DR_DB": db, "DR_RUNBOOKS": str(DATA / "runbooks"), "DR_LANG": "en"}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_a_missing_sqlite_journal_is_refused_and_not_created(tmp_path, args):
    path = tmp_path / "typo" / "journal.sqlite3"
    done = dr(f"sqlite:///{path}", *args)
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert f"no journal at sqlite:///{path}" in done.stderr
    assert "does not exist" in done.stderr and "--db or DR_DB" in done.stderr
    assert "Traceback" not in done.stderr and "PASSED" not in done.stdout
    assert not path.exists() and not path.parent.exists()


def test_a_file_that_is_no_journal_is_refused(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    done = dr(f"sqlite:///{empty}", "journal", "verify")
    assert done.returncode == EXIT_BAD_INPUT
    assert "has no journal tables" in done.stderr and "events" in done.stderr
    assert "intact" not in done.stdout
    engine = create_engine(f"sqlite:///{empty}")
    try:
        assert inspect(engine).get_table_names() == []  # nothing was created in it
    finally:
        engine.dispose()


def test_an_empty_postgresql_database_is_refused_without_creating_tables(postgres_db_url):
    done = dr(postgres_db_url, "report", "rto-rpo", "--from", "2026-11-01", "--to", "2026-11-30")
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert "has no journal tables" in done.stderr
    # The URL is named, its password masked.
    assert "***" in done.stderr and postgres_db_url.split(":")[2].split("@")[0] not in done.stderr
    engine = create_engine(postgres_db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    # Once something recorded there, the same read works.
    Journal(postgres_db_url).close()
    assert dr(postgres_db_url, "journal", "verify", "--json").returncode == 0


def test_recording_commands_still_create_the_journal_and_reads_then_work(tmp_path):
    path = tmp_path / "new" / "journal.sqlite3"
    db = f"sqlite:///{path}"
    drill = dr(db, "drill", "measured", "-i", DRILL_INV, "--json", "-p", "lost_minutes_ago=3")
    assert drill.returncode == 0, drill.stderr
    assert path.is_file()
    run_id = json.loads(drill.stdout)["id"]
    assert [r["id"] for r in json.loads(dr(db, "runs", "list", "--json").stdout)] == [run_id]
    verified = dr(db, "journal", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
