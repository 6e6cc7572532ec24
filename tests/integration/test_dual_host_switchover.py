"""Planned switchover, standby rebuild and switchback on the lab's real PostgreSQL pair,
judged by the lab's own record of acknowledged writes, not by what the runbook says.

Each test starts from and returns to the lab's layout: dc-a primary with the VIP and
the credit service, dc-b streaming from it (switchback is what puts it back).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lab import netns
from lab.credit.observe import acknowledged_writes, lost_writes
from lab.pair_reset import reset_pair
from lab.topology import LabTopology
from orchestrator.local_machine import wait_until

pytestmark = pytest.mark.integration
TOPO = LabTopology(branches=2)
LAN_ADDRESS = {"dc-a": "10.77.1.11", "dc-b": "10.77.1.12"}


def _dr(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _drill(lab, tmp_path: Path, runbook: str, *params: str) -> dict[str, Any]:
    args = ["drill", runbook, "-i", str(lab.state.inventory_file), "--auto-confirm", "--json"]
    for param in params:
        args += ["-p", param]
    result = _dr(tmp_path, *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def _holds_vip(host: str) -> bool:
    return any(
        cidr.startswith(f"{TOPO.vip}/") for _, cidr in netns.addresses(TOPO.namespace(host), "lan0")
    )


def _assert_layout(lab, primary: str, standby: str) -> None:
    """`primary` writable with the VIP and the service; `standby` streaming from it."""
    assert not lab.postgres(TOPO, primary).standby_status().in_recovery
    assert lab.postgres(TOPO, standby).standby_status().in_recovery
    assert wait_until(
        lambda: any(
            r.client_addr == LAN_ADDRESS[standby] and r.state == "streaming"
            for r in lab.postgres(TOPO, primary).replication_status()
        ),
        timeout=30,
    )
    assert _holds_vip(primary) and not _holds_vip(standby)
    assert lab.credit_service_running(primary) and not lab.credit_service_running(standby)


@pytest.fixture(autouse=True)
def _pair_put_back(lab):
    """Whatever a failed test left, the next module gets the lab's own layout."""
    yield
    try:
        _assert_layout(lab, "dc-a", "dc-b")
    except AssertionError:
        reset_pair(lab)


def _steps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in doc["steps"]}


def _lost_before_the_test(lab) -> set[tuple[str, int]]:
    """Writes already missing from the primary: the load generator's log spans the lab
    session, and an earlier module's asynchronous cutover may lose writes on purpose."""
    log = lab.state.observe / "loadgen.jsonl"
    return {(w.kind, w.id) for w in lost_writes(log, lab.credit_dsn(TOPO, "dc-a"))}


def _no_acknowledged_write_lost(
    lab, on: str, since: datetime, lost_before: set[tuple[str, int]]
) -> int:
    """Every write the load generator saw acknowledged (and not lost before the test) is
    on `on`; returns how many were acknowledged since `since` (so the check is not
    vacuous)."""
    log = lab.state.observe / "loadgen.jsonl"
    until = datetime.now(UTC)
    lost = lost_writes(log, lab.credit_dsn(TOPO, on), until=until).excluding(lost_before)
    assert len(lost) == 0, [(w.kind, w.id, w.acked_at.isoformat()) for w in lost][:10]
    return sum(1 for w in acknowledged_writes(log, until) if w.acked_at >= since)


def _wait_for_writes_through_vip(lab, since: datetime, count: int = 3) -> None:
    log = lab.state.observe / "loadgen.jsonl"
    assert wait_until(
        lambda: sum(1 for w in acknowledged_writes(log) if w.acked_at >= since) >= count,
        timeout=20,
    )


def test_switchover_loses_no_write_and_switchback_restores_the_layout(lab, tmp_path):
    _assert_layout(lab, "dc-a", "dc-b")
    started = datetime.now(UTC)
    lost_before = _lost_before_the_test(lab)

    doc = _drill(lab, tmp_path, "dual-host-switchover")
    steps = _steps(doc)
    assert steps["check-pair"]["result"]["detail"] == "dc-a (primary) -> dc-b (streaming standby)"
    assert doc["measurements"]["rpo_seconds"]["value"] == 0
    assert doc["measurements"]["rpo_seconds"]["verdict"] == "met"
    assert doc["measurements"]["rto_seconds"]["verdict"] == "met"
    # a clean switchover needs no rewind: the old primary's WAL ends where dc-b's began
    assert steps["rebuild/rewind"]["result"]["rewound"] is True
    assert steps["rebuild/base-backup"]["status"] == "skipped"
    _assert_layout(lab, "dc-b", "dc-a")
    switched = datetime.now(UTC)
    _wait_for_writes_through_vip(lab, switched)
    # The runbook's RPO (0) equals what the load generator observed lost.
    assert _no_acknowledged_write_lost(lab, "dc-b", started, lost_before) > 0

    back = _drill(lab, tmp_path, "switchback")
    back_steps = _steps(back)
    assert back_steps["switchover/check-pair"]["result"]["detail"].startswith("dc-b (primary)")
    assert back_steps["rebuild/check-pair"]["status"] == "skipped"
    assert back["measurements"]["rpo_seconds"]["value"] == 0
    _assert_layout(lab, "dc-a", "dc-b")
    _wait_for_writes_through_vip(lab, datetime.now(UTC))
    assert _no_acknowledged_write_lost(lab, "dc-a", started, lost_before) > 0


def test_rebuild_falls_back_to_a_base_backup_when_rewind_cannot_work(lab, tmp_path):
    _assert_layout(lab, "dc-a", "dc-b")
    started = datetime.now(UTC)
    lost_before = _lost_before_the_test(lab)
    doc = _drill(lab, tmp_path, "dual-host-switchover", "rebuild=false")
    assert _steps(doc)["rebuild/check-pair"]["status"] == "skipped"
    assert lab.postgres(TOPO, "dc-a").postmaster_pid is None  # left stopped, for maintenance

    # The maintenance went wrong: dc-a's disk was replaced, its cluster is gone.
    data = lab.postgres(TOPO, "dc-a").data_dir
    data.rename(data.with_name("data.replaced-disk"))
    rebuilt = _drill(lab, tmp_path, "rebuild-standby")
    steps = _steps(rebuilt)
    assert steps["rewind"]["result"]["rewound"] is False
    assert "pg_rewind" in steps["rewind"]["result"]["reason"]
    assert steps["base-backup"]["status"] == "succeeded"
    assert "streams to dc-a" in steps["standby-streaming"]["result"]["detail"]
    # the primary served throughout: the rebuild's RTO is no interruption, and no RPO
    assert rebuilt["measurements"]["rto_seconds"]["value"] < 1
    assert "rpo_seconds" not in rebuilt["measurements"]
    _assert_layout(lab, "dc-b", "dc-a")

    # back, rebuilding dc-b by a forced base backup this time
    back = _drill(lab, tmp_path, "switchback", "method=base-backup")
    back_steps = _steps(back)
    assert back_steps["switchover/rebuild/rewind"]["status"] == "skipped"
    assert back_steps["switchover/rebuild/base-backup"]["status"] == "succeeded"
    _assert_layout(lab, "dc-a", "dc-b")
    _wait_for_writes_through_vip(lab, datetime.now(UTC))
    assert _no_acknowledged_write_lost(lab, "dc-a", started, lost_before) > 0

    # in the original layout, switchback changes nothing
    unchanged = _drill(lab, tmp_path, "switchback")
    assert unchanged["measurements"]["rto_seconds"]["value"] < 1
    again = _steps(unchanged)
    assert (
        again["check-layout"]["result"]["detail"] == "dc-a serves and dc-b streams from it already"
    )
    assert again["switchover/stop-writes"]["status"] == "skipped"
    assert again["rebuild/stop-target"]["status"] == "skipped"
