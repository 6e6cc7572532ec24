"""Replication lag on a real PostgreSQL 15 primary and streaming standby, read over real
SSH the way the runbooks and the scheduler read a pair's hosts.

The two hosts of the pair are this machine's sshd; each host's control commands run a
small host script that drives its own server with the lab's code (as `dr-lab-host`
does on the lab), so the text the parsers read is what a production host prints.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.postgres import PostgresServer
from orchestrator.alerts.intake import open_incident_for
from orchestrator.errors import EXIT_WAITING
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.lag import IDLE_WAL_BYTES, LagLimit, judge, measure
from orchestrator.postgresql.replication import parse_replicas
from orchestrator.postgresql.synchronous import ASYNCHRONOUS, synchronous_replicas
from orchestrator.scheduler import jobs, lag_watch
from orchestrator.scheduler.daemon import job_specs

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DR = [sys.executable, "-m", "orchestrator.cli.main"]

HOST_SCRIPT = """\
import json, sys
from pathlib import Path
from lab.postgres import PostgresServer
from lab.standby_control import act_on_standby
servers = json.loads(Path(__file__).with_suffix(".json").read_text())
host, action = sys.argv[1], sys.argv[2]
data_dir, port = servers[host]
server = PostgresServer(Path(data_dir), port=port)
if action == "db-status":
    print(server.status_report(), end="")
else:
    sys.exit(act_on_standby(server, action, []))
"""

# A runbook with the cutover's lag gate and a stand-in for the promotion after it.
GATE_RUNBOOK = """\
from orchestrator.runbook import Runbook
from runbooks import _dual_host as pair_ops
from runbooks import _lag_gate as lag_gate

rb = Runbook("lag-gate-only", title="lag gate", system="credit",
             params={**pair_ops.PAIR_PARAMS, **lag_gate.GATE_PARAMS})
lag_gate.add_gate(rb)

@rb.action("promote-standby", title="stand-in for the promotion")
def promote(ctx):
    ctx.remember("promoted", True)
"""


@dataclass
class Pair:
    primary: PostgresServer
    standby: PostgresServer
    database: str

    def write(self, rows: int = 50) -> None:
        values = ", ".join(f"('{uuid.uuid4().hex}')" for _ in range(rows))
        self.primary.psql(f"INSERT INTO ledger (note) VALUES {values}", self.database)

    def caught_up(self) -> bool:
        lag = measure(self.standby.standby_status(), self.primary.standby_status())
        return lag.bytes is not None and lag.bytes <= IDLE_WAL_BYTES


@pytest.fixture(scope="module")
def pair(postgres_workdir: Path) -> Iterator[Pair]:
    """A primary of our own (its synchronous setting must not touch the shared server)
    and its streaming standby."""
    base = postgres_workdir / f"lag-{uuid.uuid4().hex[:6]}"
    primary = PostgresServer(
        base / "a" / "data", port=find_free_port(), name="dr-lag-a",
        superuser_password=secrets.token_urlsafe(18),
    )  # fmt: skip
    standby = PostgresServer(base / "b" / "data", port=find_free_port(), name="dr-lag-b")
    primary.init(fast=True)
    primary.start()
    password = secrets.token_urlsafe(18)
    primary.create_role("replicator", password, replication=True)
    primary.create_database("credit")
    primary.psql("CREATE TABLE ledger (id serial PRIMARY KEY, note text)", "credit")
    try:
        standby.init_standby_from(primary, "replicator", password)
        standby.start()
        made = Pair(primary, standby, "credit")
        made.write(1)
        assert wait_until(made.caught_up, timeout=30)
        yield made
    finally:
        standby.stop("immediate")
        primary.stop("immediate")


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
    script = tmp_path / "pair_host.py"
    script.write_text(HOST_SCRIPT)
    servers = {"dc-a": pair.primary, "dc-b": pair.standby}
    script.with_suffix(".json").write_text(
        json.dumps({name: [str(s.data_dir), s.port] for name, s in servers.items()})
    )
    program = f"PYTHONPATH={ROOT} {sys.executable} {script} {{host}}"
    actions = ("db_status", "db_replicas", "db_synchronous_on", "db_synchronous_off")
    ssh = {
        "port": sshd.port,
        "user": sshd.endpoint("dc-a").user,
        "key_file": str(sshd.client_key_file),
        "known_hosts": str(sshd.known_hosts_file),
    }
    document = {
        "name": "lag-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": name, "address": "127.0.0.1", "site": "dc", "roles": ["db"], "ssh": ssh}
            for name in ("dc-a", "dc-b")
        ],
        "host_pairs": [
            {
                "name": "credit",
                "service": "credit-report",
                "primary": "dc-a",
                "standby": "dc-b",
                "vip": "10.99.0.10/24",
                "control": {a: f"{program} {a.replace('_', '-')}" for a in actions},
                **pair_fields,
            }
        ],
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator"},
            {"name": "director-li", "role": "leadership"},
        ],
        # Nobody approves unattended: an approval step waits for a person.
        "drill": {"auto_approve_by": []},
        "scheduler": {"textfile_dir": str(tmp_path / "textfile")},
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("DR_DB", raising=False)
    return {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path / 'journal.sqlite3'}",
        "DR_LANG": "en",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


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
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "lag_gate_only.py").write_text(GATE_RUNBOOK)
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
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "lag_gate_only.py").write_text(GATE_RUNBOOK)
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
