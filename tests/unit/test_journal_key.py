"""The keyed chain: what a person with the database but without the key cannot hide."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from pathlib import Path

import pytest

from orchestrator.errors import JournalError, JournalUnverified, SecretUnavailable, UserInputError
from orchestrator.journal import Journal
from orchestrator.journal.chain import GENESIS_HASH, link_hash
from orchestrator.journal.chained_rows import verified_measurements, verified_steps
from orchestrator.journal.key import JournalKey, create_key_file, load_key
from orchestrator.journal.records import MeasurementRecord, RunRecord

KEY = JournalKey(bytes(range(32)), "test")
OTHER = JournalKey(bytes(range(1, 33)), "other")


def _run() -> RunRecord:
    return RunRecord(
        id="r1",
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
    )


def _fill(journal: Journal) -> None:
    journal.create_run(_run())
    for n in range(3):
        journal.step_started("r1", f"s{n}", "", kind="action", attempt=1)
        journal.step_finished("r1", f"s{n}", "", kind="action", status="succeeded", result={"n": n})
    measured = MeasurementRecord.judged(
        "rto_seconds", 600.0, 1800.0, source="runbook", detail={"system": "x"}
    )
    journal.record_measurement("r1", measured)


def _recompute_chain(path: Path, *, strip_macs: bool = False) -> None:
    """What an attacker with the database but not the key does after an edit: recompute
    every SHA-256 link and the head, as the old unkeyed chain let them."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        prev = GENESIS_HASH
        for row in conn.execute("SELECT * FROM events ORDER BY seq").fetchall():
            event = dict(row)
            new = link_hash(prev, event)
            mac = None if strip_macs else event["mac"]
            conn.execute(
                "UPDATE events SET prev_hash = ?, hash = ?, mac = ? WHERE seq = ?",
                (prev, new, mac, event["seq"]),
            )
            prev = new
        seq = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        conn.execute("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


def test_a_keyed_chain_verifies_and_names_its_algorithm_and_key(path):
    journal = Journal(f"sqlite:///{path}", KEY)
    _fill(journal)
    verdict = journal.verify()
    assert verdict.ok and verdict.keyed and verdict.key_id == KEY.key_id
    assert verdict.keyed_from == 1 and verdict.unkeyed == 0
    with sqlite3.connect(path) as conn:
        mac = conn.execute("SELECT mac FROM events WHERE seq = 1").fetchone()[0]
    assert mac.startswith(f"hmac-sha256:{KEY.key_id}:") and KEY.secret.hex() not in mac


def test_an_edit_with_the_sha256_chain_recomputed_fails_the_keyed_check(path):
    journal = Journal(f"sqlite:///{path}", KEY)
    _fill(journal)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 3")
    _recompute_chain(path)
    assert Journal(f"sqlite:///{path}").verify().ok  # the plain chain is fooled...
    verdict = journal.verify()  # ...the keyed one is not
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)
    assert "rewritten by someone without the key" in verdict.reason


def test_stripping_the_macs_after_a_keyed_event_is_caught(path):
    journal = Journal(f"sqlite:///{path}", KEY)
    _fill(journal)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET mac = NULL WHERE seq >= 5")
    verdict = journal.verify()
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)
    assert "MAC was stripped" in verdict.reason


def test_another_key_does_not_verify_the_journal(path):
    _fill(Journal(f"sqlite:///{path}", KEY))
    verdict = Journal(f"sqlite:///{path}", OTHER).verify()
    assert not verdict.ok and "verify with the journal's own key" in verdict.reason


def test_an_unkeyed_journal_verifies_as_sha256_only_and_a_key_later_keys_the_rest(path):
    _fill(Journal(f"sqlite:///{path}"))
    plain = Journal(f"sqlite:///{path}").verify()
    assert plain.ok and not plain.keyed and plain.unkeyed == plain.checked
    keyed = Journal(f"sqlite:///{path}", KEY)
    keyed.append("note", data={"after": "the key was made"})
    verdict = keyed.verify()
    assert verdict.ok and verdict.keyed and verdict.keyed_from == plain.checked + 1


def test_a_process_without_the_key_may_not_append_to_a_keyed_journal(path):
    _fill(Journal(f"sqlite:///{path}", KEY))
    with pytest.raises(JournalError, match="is keyed, and this process has no key"):
        Journal(f"sqlite:///{path}").append("note")


def test_reports_read_steps_and_measurements_from_the_chain_and_refuse_an_edited_row(path):
    journal = Journal(f"sqlite:///{path}", KEY)
    _fill(journal)
    assert [m.value_seconds for m in verified_measurements(journal, "r1")] == [600.0]
    assert [s.status for s in verified_steps(journal, "r1")] == ["succeeded"] * 3
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE measurements SET value_seconds = 1.0")
        conn.execute("UPDATE steps SET status = 'succeeded', error = NULL WHERE step_id = 's1'")
    with pytest.raises(JournalUnverified, match=r"value_seconds in the measurements table is 1\.0"):
        verified_measurements(journal, "r1")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE steps SET result = ? WHERE step_id = 's1'", (json.dumps({"n": 7}),))
    with pytest.raises(JournalUnverified, match="step s1: result"):
        verified_steps(journal, "r1")


def test_init_key_writes_an_owner_only_key_and_never_overwrites_it(tmp_path, monkeypatch):
    target = tmp_path / "conf" / "journal.key"
    made = create_key_file(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(target.read_text().strip()) == 64
    with pytest.raises(UserInputError, match="never overwritten"):
        create_key_file(target)
    monkeypatch.setenv("DR_JOURNAL_KEY", str(target))
    loaded = load_key()
    assert loaded is not None and loaded.key_id == made.key_id
    assert made.key_id == hashlib.sha256(b"dr-journal-key-id\0" + made.secret).hexdigest()[:16]
    target.chmod(0o644)
    with pytest.raises(SecretUnavailable, match="readable by group or others"):
        load_key()


def test_no_key_file_means_an_unkeyed_journal_but_a_named_missing_key_is_an_error(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("DR_JOURNAL_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_key() is None
    monkeypatch.setenv("DR_JOURNAL_KEY", str(tmp_path / "missing.key"))
    with pytest.raises(SecretUnavailable, match="does not exist"):
        load_key()


def test_a_retried_steps_attempt_events_do_not_count_as_its_result(path):
    journal = Journal(f"sqlite:///{path}", KEY)
    journal.create_run(_run())
    journal.step_started("r1", "flaky", "app-1", kind="action", attempt=1)
    journal.append("step.attempt_failed", run_id="r1", step_id="flaky", host="app-1")
    journal.step_finished("r1", "flaky", "app-1", kind="action", status="succeeded", result="ok")
    [step] = verified_steps(journal, "r1")
    assert (step.status, step.attempts, step.result, step.host) == ("succeeded", 1, "ok", "app-1")
