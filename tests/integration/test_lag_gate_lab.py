"""The cutover's lag gate on the lab (issue 16, item 6): a standby held behind the pair's
RPO target by `dr lab fault standby-lag` is not promoted without leadership's approval,
and the run says by how much.

The load generator writes through the VIP the whole time, so with the standby's replay
paused its received-but-not-replayed WAL and the age of its newest replayed commit grow
past the lab pair's target (`rpo: 20s`, `max_lag_on_failover: 1 MiB`; inventory/lab.yaml).
Then dc-a fails. The drill runs unattended (`--auto-confirm`) but with nobody on the
drill roster, so an approval waits for a person: the run must stop there, before any
promotion, with the lag in both languages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.pair_reset import reset_pair
from lab.topology import LabTopology
from orchestrator.errors import EXIT_WAITING
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until
from orchestrator.postgresql.lag import measure

pytestmark = pytest.mark.integration
DR = [sys.executable, "-m", "orchestrator.cli.main"]
RPO_S = 20


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3", "DR_LANG": "en"}


def _inventory(lab, tmp_path: Path) -> str:
    """The lab's inventory with nobody on the drill roster (no unattended approval), the
    pair's lag target set as inventory/lab.yaml sets it, and a 1 s SSH connect timeout."""
    data: dict[str, Any] = yaml.safe_load(lab.state.inventory_file.read_text())
    data["defaults"]["ssh"]["connect_timeout"] = 1
    data["drill"] = {"auto_approve_by": []}
    data["host_pairs"][0].update({"rpo": f"{RPO_S}s", "max_lag_on_failover": 1048576})
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return str(path)


def _standby_seconds_behind(lab) -> float:
    topo = LabTopology(branches=lab.state.load().branches)
    standby = lab.postgres(topo, "dc-b").standby_status()
    primary = lab.postgres(topo, "dc-a").standby_status()
    return measure(standby, primary).seconds or 0.0


@pytest.fixture
def pair(lab):
    reset_pair(lab)
    yield lab
    # Replay resumes first: reset_pair keeps a standby that still streams as it is.
    if any(key.startswith("standby-lag") for key in lab.state.load().faults):
        lab.heal("standby-lag", [])
    reset_pair(lab)


def test_cutover_of_a_standby_behind_its_rpo_waits_for_leadership_showing_the_lag(pair, tmp_path):
    lab = pair
    inventory = _inventory(lab, tmp_path)
    lab.fault("standby-lag", [])
    # Held past the target while the load generator writes on dc-a.
    assert wait_until(lambda: _standby_seconds_behind(lab) > RPO_S + 2, timeout=RPO_S * 4)
    lab.fault("host-down", ["dc-a"])
    started = time.monotonic()
    result = subprocess.run(
        [*DR, "drill", "dual-host-cutover", "-i", inventory, "--auto-confirm", "--json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert result.returncode == EXIT_WAITING, result.stdout + result.stderr
    assert time.monotonic() - started < 120  # a paused standby is judged at once
    doc = json.loads(result.stdout)
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["fencing-holds"]["status"] == "succeeded"
    assert steps["check-standby-lag"]["status"] == "succeeded"
    assert steps["approve-lagging-standby"]["status"] == "waiting"
    assert "approve-promotion" not in steps and "promote-standby" not in steps
    # The lag, in both languages: bytes and seconds, against the pair's target.
    shown = json.dumps(steps["check-standby-lag"], ensure_ascii=False)
    assert "bytes behind" in shown and f"RPO target {RPO_S} s" in shown
    assert "字节" in shown and f"RPO 目标 {RPO_S} 秒" in shown
    assert "replay is paused" in shown and "回放已暂停" in shown
    facts = {
        e.data["key"]: e.data["value"]
        for e in Journal(_env(tmp_path)["DR_DB"]).events(doc["id"], kinds=("fact",))
    }
    lag = facts["standby_lag"]["lag"]
    assert facts["standby_behind_rpo"] is True
    assert lag["basis"] == "standby" and lag["bytes"] > 0 and lag["seconds"] > RPO_S
    # Nothing was promoted: dc-b is still a standby, and still paused.
    topo = LabTopology(branches=lab.state.load().branches)
    standby = lab.postgres(topo, "dc-b").standby_status()
    assert standby.in_recovery and standby.replay_paused

    lab.heal("standby-lag", [])
    assert lab.postgres(topo, "dc-b").standby_status().replay_paused is False
