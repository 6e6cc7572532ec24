"""The lag gate once the primary is gone, on a real PostgreSQL 15 primary and streaming
standby (tests/support/streaming_pair.py) read over real SSH: a replication stream cut
before the primary died is seen through the lag watch's last reading of the primary,
and without such a reading the gate says what it cannot know.

The scenario: the stream is cut (the standby's WAL receiver stopped and its upstream
emptied, as `dr lab fault standby-lag stream-cut` does), the primary goes on writing,
the scheduler's lag watch reads both databases, then the primary dies. The standby has
replayed everything it received: alone, it reads as caught up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import EXIT_WAITING
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until
from orchestrator.postgresql.lag import IDLE_WAL_BYTES, LagLimit, judge, measure
from orchestrator.postgresql.last_known_primary import (
    SAMPLE_KIND,
    lookback,
    newest_position,
)
from orchestrator.postgresql.status import wal_position
from orchestrator.scheduler import jobs, lag_watch
from tests.support.streaming_pair import (
    Pair,
    dr_environment,
    gate_runbooks,
    pair_inventory,
    streaming_pair,
)

pytestmark = pytest.mark.integration
DR = [sys.executable, "-m", "orchestrator.cli.main"]
LIMIT = LagLimit(max_bytes=4096, max_seconds=1)


@pytest.fixture
def cut_pair(postgres_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    """A pair of its own: the test cuts its stream and stops its primary."""
    monkeypatch.delenv("DR_DB", raising=False)
    with streaming_pair(postgres_workdir, "cut") as pair:
        pair.write(1)
        assert wait_until(
            lambda: pair.caught_up() and pair.standby.standby_status().last_replay_at is not None,
            timeout=30,
        )
        yield pair


def _gate(inventory: Path, tmp_path: Path, journal_url: str) -> tuple[int, dict[str, Any], str]:
    env = {**dr_environment(tmp_path), "DR_DB": journal_url}
    command = [*DR, "drill", "lag-gate-only", "-i", str(inventory), "--auto-confirm", "--json"]
    result = subprocess.run(
        [*command, "-p", "lag_wait=2s"],
        env={**env, "DR_RUNBOOKS": str(gate_runbooks(tmp_path))},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    output = result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout else {}, output


def _facts_and_notes(journal_url: str, run_id: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    journal = Journal(journal_url)
    facts = {
        e.data["key"]: e.data["value"] for e in journal.events(run_id, kinds=("fact",))
    }  # fmt: skip
    notes = [e.data["text"] for e in journal.events(run_id, kinds=("note",))]
    return facts, notes


def test_a_stream_cut_before_the_primary_died_is_seen_against_its_last_known_position(
    cut_pair: Pair, tmp_path: Path, sshd_server
):
    pair = cut_pair
    inventory = pair_inventory(tmp_path, sshd_server, pair, rpo="1s", max_lag_on_failover=4096)
    journal_url = dr_environment(tmp_path)["DR_DB"]
    watch = jobs.JobEnvironment(inventory, journal_url, tmp_path / "textfile")
    assert lag_watch.lag_watch(env=watch) == []  # streaming, caught up

    pair.standby.stop_streaming()
    time.sleep(1.5)  # the standby's newest commit ages while the primary writes on
    pair.write(500)
    [alert] = lag_watch.lag_watch(env=watch)  # the watch sees the primary ahead
    assert alert["lag"]["basis"] == "primary" and alert["lag"]["bytes"] > 4096
    pair.primary.stop("immediate")  # the primary dies
    lag_watch.lag_watch(env=watch)  # it no longer answers: a sample without its position

    journal = Journal(journal_url)
    samples = journal.events(
        kinds=(SAMPLE_KIND,), since=datetime.now(UTC) - lookback(60), newest_first=True
    )
    assert samples[0].data["positions"]["primary"] is None
    standby = pair.standby.standby_status()
    # The standby alone has replayed all it received: it reads as caught up.
    alone = measure(standby, None)
    assert alone.basis == "standby" and alone.bytes is not None
    assert alone.bytes <= IDLE_WAL_BYTES and alone.seconds == 0.0
    assert judge(alone, LIMIT).within
    assert "cannot be known" in alone.describe().en
    # Against the lag watch's last reading of the primary, it is behind.
    known = newest_position(samples, pair="credit", primary="dc-a", standby="dc-b")
    assert known is not None and known.seq == samples[1].seq
    lag = measure(standby, None, known)
    assert lag.basis == "last_known_primary"
    assert lag.bytes is not None and lag.bytes > 10_000
    assert lag.seconds is not None and lag.seconds >= 1.5
    assert not judge(lag, LIMIT).within

    # The gate, as the cutover runs it, stops for leadership and says against what.
    code, doc, output = _gate(inventory, tmp_path, journal_url)
    assert code == EXIT_WAITING, output
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["approve-lagging-standby"]["status"] == "waiting"
    assert "promote-standby" not in steps
    shown = json.dumps(steps["check-standby-lag"], ensure_ascii=False)
    assert "against the primary's last position seen by the lag watch at" in shown
    assert "s before this reading" in shown and "复制延迟监测于" in shown
    facts, _ = _facts_and_notes(journal_url, doc["id"])
    assert facts["standby_behind_rpo"] is True
    recorded = facts["standby_lag"]["lag"]
    assert recorded["basis"] == "last_known_primary" and recorded["bytes"] > 10_000
    assert recorded["last_known_primary"]["lsn"] == known.lsn

    # Another journal, where no lag watch wrote: today's reading, said to be blind.
    fresh_url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    code, doc, output = _gate(inventory, tmp_path, fresh_url)
    assert code == 0, output
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["promote-standby"]["status"] == "succeeded"
    facts, notes = _facts_and_notes(fresh_url, doc["id"])
    assert facts["standby_lag"]["lag"]["basis"] == "standby"
    assert facts["standby_behind_rpo"] is False
    [note] = [n for n in notes if "never received" in n["en"]]
    assert "the lag watch had no reading of the primary" in note["en"]
    assert "scheduler.lag_check_interval" in note["en"] and "从未收到" in note["zh"]


# A county union's busy hour: the stream cut, then a few hundred MB of WAL (many 16 MB
# segments) written before the primary dies. The bytes behind must be counted across
# segment and LSN high-word boundaries, against what the primary itself reported.
COUNTY_WAL_BYTES = 300 * 1024 * 1024


def test_hundreds_of_mb_written_after_the_cut_count_in_full_against_the_last_position(
    cut_pair: Pair, tmp_path: Path, sshd_server
):
    pair = cut_pair
    inventory = pair_inventory(tmp_path, sshd_server, pair, rpo="1s", max_lag_on_failover=4096)
    journal_url = dr_environment(tmp_path)["DR_DB"]
    watch = jobs.JobEnvironment(inventory, journal_url, tmp_path / "textfile")
    pair.standby.stop_streaming()
    started = wal_position(str(pair.primary.standby_status().current_lsn))
    pair.primary.psql(
        "INSERT INTO ledger (note) SELECT repeat(md5(g::text), 32) "
        f"FROM generate_series(1, {COUNTY_WAL_BYTES // 1024}) AS g",
        pair.database,
    )
    [alert] = lag_watch.lag_watch(env=watch)
    written_to = wal_position(str(pair.primary.standby_status().current_lsn))
    assert written_to - started >= COUNTY_WAL_BYTES  # the load really wrote that much WAL
    pair.primary.stop("immediate")

    samples = Journal(journal_url).events(
        kinds=(SAMPLE_KIND,), since=datetime.now(UTC) - lookback(60), newest_first=True
    )
    known = newest_position(samples, pair="credit", primary="dc-a", standby="dc-b")
    assert known is not None
    standby = pair.standby.standby_status()
    lag = measure(standby, None, known)
    # Exactly the primary's reported position minus what the standby replayed.
    assert lag.bytes == wal_position(known.lsn) - wal_position(str(standby.replay_lsn))
    assert lag.bytes >= COUNTY_WAL_BYTES and alert["lag"]["bytes"] >= COUNTY_WAL_BYTES
    assert not judge(lag, LIMIT).within
    assert f"{lag.bytes:,}" in lag.describe().en
