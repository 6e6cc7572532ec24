"""Switch failover to the pre-cabled spare and back, on the lab, checked by its prober."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from lab import netns
from lab.credit.observe import observed_outages
from lab.topology import LabTopology
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until

pytestmark = pytest.mark.integration
TOPO = LabTopology(branches=2)
BRANCHES = ("branch-1", "branch-2")
SPARE_PORTS = ("acc-1", "ln-1", "xc-1", "acc-2", "ln-2", "xc-2")


def _drill(
    tmp_path: Path, lab, runbook: str, *params: str, inventory: Path | None = None
) -> tuple[int, dict]:
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }
    chosen = inventory or lab.state.inventory_file
    args = ["drill", runbook, "-i", str(chosen), "--auto-confirm", "--json"]
    for param in params:
        args += ["-p", param]
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def _events(tmp_path: Path, run_id: str, kind: str) -> list[dict]:
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    return [e.data for e in journal.events(run_id, kinds=(kind,))]


def _prober_up(lab, branch: str) -> bool:
    status = json.loads((lab.state.observe / f"prober-{branch}.json").read_text())
    return status["state"] == "up"


def _spare_masters() -> dict[str, str | None]:
    spare = TOPO.namespace("sw-spare")
    return {port: netns.link_info(spare, port).master for port in SPARE_PORTS}


def _with_a_person_at_branch_2(lab, tmp_path: Path) -> Path:
    """The lab's inventory where branch-2 has no host dr may use: a person there checks."""
    data = yaml.safe_load(lab.state.inventory_file.read_text())
    site = next(s for s in data["sites"] if s["name"] == "branch-2")
    site["check"] = {"kind": "person", "phone": "0371-5555-0102"}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def test_switch_down_fails_over_to_the_spare_then_back(lab, tmp_path):
    inventory = _with_a_person_at_branch_2(lab, tmp_path)
    lab.fault("switch-down", ["sw-funds"])
    try:
        assert wait_until(lambda: not any(_prober_up(lab, b) for b in BRANCHES), timeout=10)
        down_at = datetime.now().astimezone().replace(microsecond=0)
        code, doc = _drill(tmp_path, lab, "switch-failover", "switch=sw-funds", inventory=inventory)
        steps = {s["id"]: s for s in doc["steps"]}
        assert code == 0, [s["error"] for s in doc["steps"] if s["error"]]
        # branch-1 is checked from its host; branch-2's person is asked, and confirms.
        assert "1 branch(es) reach" in steps["branches-reach-service"]["result"]["detail"]
        assert steps["ask-the-branches"]["result"]["branches"] == ["branch-2"]
        assert steps["branches-confirm-service"]["status"] == "succeeded"
        assert "management does not answer" in steps["diagnose"]["result"]["detail"]
        moves = steps["cable-plan"]["result"]["moves"]
        assert {"from": "sw-funds acc-1", "to": "sw-spare acc-1"} in moves
        assert len(moves) == len(SPARE_PORTS)
        assert steps["move-cables"]["status"] == "succeeded"
        assert "carrier on all 4" in steps["standby-carrier"]["result"]["detail"]
        assert doc["measurements"]["rto_seconds"]["verdict"] == "met"
        levels = _events(tmp_path, doc["id"], "alert_level")
        assert [(e["level"], e["category"]) for e in levels] == [("yellow", "network")]
        changes = _events(tmp_path, doc["id"], "switch.change")
        assert {c["switch"] for c in changes} == {"sw-spare"}
        # in service: access and line attached, the cross-connect left detached
        assert _spare_masters() == {
            "acc-1": "br1",
            "ln-1": "br1",
            "xc-1": None,
            "acc-2": "br2",
            "ln-2": "br2",
            "xc-2": None,
        }
        # the lab's own prober agrees: both branches reach the service again
        assert wait_until(lambda: all(_prober_up(lab, b) for b in BRANCHES), timeout=10)
        outages = observed_outages(lab.state.observe / "prober-branch-1.jsonl", since=down_at)
        assert outages and outages[-1].resolved
    finally:
        lab.heal("switch-down", ["sw-funds"])
    # The repaired switch is back while the spare still forwards: the branch's STP
    # blocks the spare uplink instead of letting the two paths loop.
    blocked = lambda: netns.bridge_port_state(TOPO.namespace("branch-1"), "up1") == "blocking"  # noqa: E731
    assert wait_until(blocked, timeout=10)
    code, doc = _drill(tmp_path, lab, "switch-failback", "switch=sw-funds", "stable_for=2")
    assert code == 0, [s["error"] for s in doc["steps"] if s["error"]]
    assert "rto_seconds" in doc["measurements"]
    assert set(_spare_masters().values()) == {None}
    assert wait_until(lambda: all(_prober_up(lab, b) for b in BRANCHES), timeout=15)


def test_failover_refuses_while_the_switch_works(lab, tmp_path):
    code, doc = _drill(tmp_path, lab, "switch-failover", "switch=sw-funds")
    assert code == 1
    diagnose = next(s for s in doc["steps"] if s["id"] == "diagnose")
    assert "the switch is working" in diagnose["error"]
    assert _events(tmp_path, doc["id"], "alert_level") == []
    assert set(_spare_masters().values()) == {None}
