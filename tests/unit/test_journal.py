"""The journal: chained events, projections, and the proof that catches tampering."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from orchestrator.errors import JournalError, RunNotFound
from orchestrator.journal import Journal
from orchestrator.journal.records import MeasurementRecord, RunRecord


def _run(run_id: str = "r1") -> RunRecord:
    return RunRecord(
        id=run_id,
        runbook="example",
        runbook_digest="d" * 64,
        mode="drill",
        status="running",
        inventory_path="/inv.yaml",
        inventory_digest="i" * 64,
        inventory_name="lab",
        environment="drill",
        started_by="duty-wang",
        started_at="2026-11-27T03:00:00+00:00",
        params={"branch": "branch-1"},
        options={"lang": "zh"},
    )


def _fill(journal: Journal, steps: int = 5) -> None:
    journal.create_run(_run())
    for n in range(steps):
        journal.step_started("r1", f"s{n}", "", kind="action", attempt=1)
        journal.step_finished("r1", f"s{n}", "", kind="action", status="succeeded", result={"n": n})


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture
def journal(sqlite_path: Path) -> Journal:
    return Journal(f"sqlite:///{sqlite_path}")


def _tamper(path: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(sql, args)


def test_an_untouched_chain_verifies(journal):
    _fill(journal)
    verdict = journal.verify()
    assert verdict.ok and verdict.checked == 11


def test_editing_an_event_is_caught_at_that_event(journal, sqlite_path):
    _fill(journal)
    _tamper(
        sqlite_path, "UPDATE events SET data = replace(data, '\"n\":2', '\"n\":9') WHERE seq = 7"
    )
    verdict = journal.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 7)
    assert "altered" in verdict.reason


def test_deleting_an_event_is_caught(journal, sqlite_path):
    _fill(journal)
    _tamper(sqlite_path, "DELETE FROM events WHERE seq = 4")
    verdict = journal.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)
    assert "missing" in verdict.reason


def test_reordering_events_is_caught(journal, sqlite_path):
    _fill(journal)
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("UPDATE events SET seq = -1 WHERE seq = 3")
        conn.execute("UPDATE events SET seq = 3 WHERE seq = 4")
        conn.execute("UPDATE events SET seq = 4 WHERE seq = -1")
    verdict = journal.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)


def test_removing_the_newest_events_is_caught_by_the_chain_head(journal, sqlite_path):
    _fill(journal)
    _tamper(sqlite_path, "DELETE FROM events WHERE seq >= 10")
    verdict = journal.verify()
    assert not verdict.ok
    assert "ends at event 9" in verdict.reason


def test_recomputing_a_hash_after_an_edit_still_breaks_the_next_link(journal, sqlite_path):
    from orchestrator.journal.chain import link_hash

    _fill(journal)
    with sqlite3.connect(sqlite_path) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM events WHERE seq = 5").fetchone())
        row["data"] = row["data"].replace("action", "manual")
        forged = link_hash(row["prev_hash"], row)
        conn.execute("UPDATE events SET data = ?, hash = ? WHERE seq = 5", (row["data"], forged))
    verdict = journal.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 6)


def test_projections_follow_the_events(journal):
    _fill(journal, steps=2)
    journal.record_measurement(
        "r1",
        MeasurementRecord(
            name="rto_seconds",
            value_seconds=12.5,
            target_seconds=30.0,
            met=True,
            source="runbook",
            detail={"lost_at": "x"},
            recorded_at="2026-11-27T03:01:00+00:00",
        ),
    )
    journal.set_run_status("r1", "succeeded", detail="done", finished=True)
    run = journal.get_run("r1")
    assert run.status == "succeeded" and run.finished_at and run.params == {"branch": "branch-1"}
    assert [(s.step_id, s.status, s.result) for s in journal.steps("r1")] == [
        ("s0", "succeeded", {"n": 0}),
        ("s1", "succeeded", {"n": 1}),
    ]
    [m] = journal.measurements("r1")
    assert (m.value_seconds, m.target_seconds, m.met) == (12.5, 30.0, True)
    kinds = [e.kind for e in journal.events("r1")]
    assert kinds[0] == "run.started" and kinds[-2:] == ["measurement", "run.succeeded"]


def test_concurrent_writers_keep_one_unbroken_chain(journal, sqlite_path):
    journal.create_run(_run())
    other = Journal(f"sqlite:///{sqlite_path}")

    def write(j: Journal, tag: str) -> None:
        for n in range(100):
            j.append("note", run_id="r1", data={"by": tag, "n": n})

    threads = [
        threading.Thread(target=write, args=(j, t))
        for j, t in ((journal, "a"), (journal, "b"), (other, "c"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = journal.verify()
    assert verdict.ok and verdict.checked == 301


def test_unknown_run_is_a_clear_error(journal):
    with pytest.raises(RunNotFound, match="dr runs list"):
        journal.get_run("nope")


def test_unreachable_database_is_a_journal_error():
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal("postgresql+psycopg2://dr:secret@127.0.0.1:1/none")


def test_a_sqlite_path_under_a_file_is_a_journal_error(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(JournalError, match=r"cannot open the journal.*File exists"):
        Journal(f"sqlite:///{tmp_path / 'a-file' / 'journal.sqlite3'}")


def test_the_password_in_a_database_url_is_not_shown():
    with pytest.raises(JournalError) as caught:
        Journal("postgresql+psycopg2://dr:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in caught.value.message


@pytest.mark.integration
def test_postgresql_journal_chains_and_detects_tampering(postgres_db_url):
    from sqlalchemy import create_engine, text

    journal = Journal(postgres_db_url)
    _fill(journal)
    second = Journal(postgres_db_url)

    def write(j: Journal) -> None:
        for n in range(50):
            j.append("note", run_id="r1", data={"n": n})

    threads = [threading.Thread(target=write, args=(j,)) for j in (journal, second, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journal.verify().ok and journal.verify().checked == 161
    engine = create_engine(postgres_db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET actor = 'someone-else' WHERE seq = 3"))
    engine.dispose()
    verdict = journal.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)
