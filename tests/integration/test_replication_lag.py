"""Replication lag on a real PostgreSQL 15 primary and streaming standby, read over real
SSH the way the runbooks and the scheduler read a pair's hosts (tests/support/
streaming_pair.py: the two hosts of the pair are this machine's sshd).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.alerts.intake import open_incident_for
from orchestrator.errors import EXIT_WAITING
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until
from orchestrator.postgresql.lag import IDLE_WAL_BYTES, LagLimit, judge, measure
from orchestrator.postgresql.replication import parse_replicas
from orchestrator.postgresql.status import wal_position
from orchestrator.postgresql.synchronous import ASYNCHRONOUS, synchronous_replicas
from orchestrator.scheduler import jobs, lag_watch
from orchestrator.scheduler.daemon import job_specs
from tests.support.streaming_pair import (
    Pair,
    dr_environment,
    gate_runbooks,
    pair_inventory,
    streaming_pair,
)

pytestmark = pytest.mark.integration
DR = [sys.executable, "-m", "orchestrator.cli.main"]


@pytest.fixture(scope="module")
def pair(postgres_workdir: Path) -> Iterator[Pair]:
    """A primary of our own (its synchronous setting must not touch the shared server)
    and its streaming standby."""
    with streaming_pair(postgres_workdir) as made:
        yield made


@pytest.fixture
def paused(pair: Pair) -> Iterator[Pair]:
    """The standby's replay paused (what `dr lab fault standby-lag` does), resumed after."""
    pair.write(1)
    # A commit replayed before the pause (caught_up allows a few bytes of housekeeping
    # WAL, which can be that very commit): its timestamp is what the lag is aged from.
    assert wait_until(
        lambda: pair.caught_up() and pair.standby.standby_status().last_replay_at is not None,
        timeout=30,
    )
    pair.standby.psql("SELECT pg_wal_replay_pause()")
    try:
        yield pair
    finally:
        pair.standby.psql("SELECT pg_wal_replay_resume()")
        assert wait_until(pair.caught_up, timeout=30)


def _inventory(tmp_path: Path, sshd, pair: Pair, **pair_fields: Any) -> Path:
    return pair_inventory(tmp_path, sshd, pair, **pair_fields)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("DR_DB", raising=False)
    return dr_environment(tmp_path)


# ---- measuring ----------------------------------------------------------------------------


def test_paused_replay_and_writes_on_the_primary_put_the_standby_behind(paused: Pair):
    time.sleep(1.5)  # the last replayed commit ages while the primary writes on
    paused.write(500)
    standby, primary = paused.standby.standby_status(), paused.primary.standby_status()
    with_primary = measure(standby, primary)
    assert with_primary.basis == "primary" and with_primary.replay_paused
    assert with_primary.bytes is not None and with_primary.bytes > 10_000
    assert with_primary.seconds is not None and with_primary.seconds >= 1.5
    verdict = judge(with_primary, LagLimit(max_bytes=4096, max_seconds=1))
    assert not verdict.within and len(verdict.reasons) == 2
    # The real failover: no primary to ask. The standby received the writes but has
    # not replayed them, and says so.
    assert wait_until(
        lambda: (measure(paused.standby.standby_status(), None).bytes or 0) > 10_000, timeout=10
    )
    alone = measure(paused.standby.standby_status(), None)
    assert alone.basis == "standby" and alone.seconds is not None and alone.seconds >= 1.5
    assert "cannot be known" in alone.describe().en


def test_a_resumed_standby_catches_up_to_no_lag(pair: Pair):
    pair.write(200)
    assert wait_until(pair.caught_up, timeout=30)
    lag = measure(pair.standby.standby_status(), pair.primary.standby_status())
    # The primary may have written a running-transactions record since: a few bytes.
    assert lag.bytes is not None and lag.bytes <= IDLE_WAL_BYTES and lag.seconds == 0.0
    assert judge(lag, LagLimit(max_bytes=IDLE_WAL_BYTES, max_seconds=0)).within


# ---- the gate, as the cutover runs it -------------------------------------------------------


def test_gate_stops_for_leadership_showing_the_lag_and_never_promotes(
    paused: Pair, tmp_path: Path, sshd_server, state
):
    inventory = _inventory(tmp_path, sshd_server, paused, rpo="1s", max_lag_on_failover=4096)
    runbooks = gate_runbooks(tmp_path)
    time.sleep(1.5)
    paused.write(500)
    result = subprocess.run(
        [*DR, "drill", "lag-gate-only", "-i", str(inventory), "--auto-confirm", "--json"],
        env={**state, "DR_RUNBOOKS": str(runbooks)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert result.returncode == EXIT_WAITING, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["approve-lagging-standby"]["status"] == "waiting"
    assert "promote-standby" not in steps
    shown = json.dumps(steps["check-standby-lag"], ensure_ascii=False)
    # By how much, in both languages: bytes and seconds, against the pair's target.
    assert "bytes behind" in shown and "RPO target 1 s" in shown
    assert "字节" in shown and "RPO 目标 1 秒" in shown and "回放已暂停" in shown
    facts = {
        e.data["key"]: e.data["value"]
        for e in Journal(state["DR_DB"]).events(doc["id"], kinds=("fact",))
    }
    assert facts["standby_behind_rpo"] is True
    assert facts["standby_lag"]["lag"]["bytes"] > 4096
    assert facts["standby_lag"]["lag"]["basis"] == "standby"
    assert paused.standby.standby_status().in_recovery  # nothing was promoted


def test_gate_lets_a_standby_within_the_target_through(pair: Pair, tmp_path, sshd_server, state):
    inventory = _inventory(tmp_path, sshd_server, pair, rpo="1m", max_lag_on_failover=16 << 20)
    runbooks = gate_runbooks(tmp_path)
    result = subprocess.run(
        [*DR, "drill", "lag-gate-only", "-i", str(inventory), "--auto-confirm", "--json"],
        env={**state, "DR_RUNBOOKS": str(runbooks)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = {s["id"]: s for s in json.loads(result.stdout)["steps"]}
    assert steps["promote-standby"]["status"] == "succeeded"
    assert steps.get("approve-lagging-standby", {}).get("status") in (None, "skipped")


# ---- the scheduler's lag watch ---------------------------------------------------------------


def test_lag_watch_records_alerts_once_opens_an_incident_and_recovers(
    pair: Pair, tmp_path: Path, sshd_server, state
):
    inventory = _inventory(tmp_path, sshd_server, pair, rpo="1s", max_lag_on_failover=4096)
    job_env = jobs.JobEnvironment(inventory, state["DR_DB"], tmp_path / "textfile")
    journal = Journal(state["DR_DB"])
    from orchestrator.inventory import load_inventory

    assert "lag-watch" in [s.id for s in job_specs(load_inventory(inventory))]
    assert lag_watch.lag_watch(env=job_env) == []  # caught up: a sample, no alert
    pair.write(1)
    assert wait_until(pair.caught_up, timeout=30)
    pair.standby.psql("SELECT pg_wal_replay_pause()")
    try:
        time.sleep(1.5)
        pair.write(500)
        alerts = lag_watch.lag_watch(env=job_env)
        assert [a["pair"] for a in alerts] == ["credit"]
        assert alerts[0]["lag"]["bytes"] > 4096 and alerts[0]["lag"]["basis"] == "primary"
        assert any("replay is paused on dc-b" in p for p in alerts[0]["problems"])
        assert lag_watch.lag_watch(env=job_env) == []  # the same breach is not repeated
        metrics = (tmp_path / "textfile" / "dr-lag.prom").read_text()
        assert 'dr_replication_replay_paused{pair="credit"} 1' in metrics
        assert 'dr_replication_rpo_target_seconds{pair="credit"} 1' in metrics
        incident = open_incident_for(journal, "scheduler:lag-test:lag:credit")
        assert incident is not None
    finally:
        pair.standby.psql("SELECT pg_wal_replay_resume()")
    assert wait_until(pair.caught_up, timeout=30)
    assert lag_watch.lag_watch(env=job_env) == []
    recovered = journal.events(kinds=(lag_watch.RECOVERED,))
    assert [e.data["pair"] for e in recovered] == ["credit"]
    samples = journal.events(kinds=(lag_watch.SAMPLE,))
    assert len(samples) == 4 and samples[0].data["lag"]["seconds"] == 0
    # What a later gate compares a standby with once the primary is gone.
    positions = samples[1].data["positions"]
    assert positions["primary"] == "dc-a" and positions["primary_checked_at"]
    assert wal_position(positions["primary_current_lsn"]) > wal_position(
        positions["standby_replay_lsn"]
    )
    metrics = (tmp_path / "textfile" / "dr-lag.prom").read_text()
    [line] = [m for m in metrics.splitlines() if m.startswith("dr_replication_lag_bytes{")]
    assert int(line.split()[-1]) <= IDLE_WAL_BYTES


# ---- synchronous replication ----------------------------------------------------------------


def test_replication_mode_makes_the_standby_synchronous_on_a_real_cluster(
    pair: Pair, tmp_path: Path, sshd_server, state
):
    inventory = _inventory(tmp_path, sshd_server, pair, replication="synchronous")
    try:
        result = subprocess.run(
            [*DR, "drill", "replication-mode", "-i", str(inventory), "--auto-confirm", "--json"],
            env=state,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        status = pair.primary.standby_status()
        assert status.synchronous_standby_names == "*"
        replicas = parse_replicas(pair.primary.replicas_report())
        assert [r.sync_state for r in synchronous_replicas(replicas)] == ["sync"]
        # A commit now returns only once the standby has it: none is lost to a failover.
        pair.write(10)
        assert pair.standby.standby_status().receive_lsn is not None
        # The lag watch sees the pair as synchronous.
        readings = lag_watch.lag_watch(
            env=jobs.JobEnvironment(inventory, state["DR_DB"], tmp_path / "textfile")
        )
        assert readings == []
        assert (
            'dr_replication_synchronous{pair="credit"} 1'
            in (tmp_path / "textfile" / "dr-lag.prom").read_text()
        )
    finally:
        for statement in ASYNCHRONOUS:
            pair.primary.psql(statement)
    assert pair.primary.standby_status().synchronous_standby_names == ""
