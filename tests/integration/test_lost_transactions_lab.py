"""Issue 18's lab check: a cutover onto a standby held far behind loses acknowledged
writes, and the rebuild of the old primary lists exactly those, write for write.

`dr lab fault standby-lag` holds the standby back past the pair's lag limit (replay
paused), then `standby-lag stream-cut` cuts its link too while the load generator goes
on writing through the VIP; dc-a then dies and the drill cuts over (the drill roster
approves promoting a standby past the lag limit). The load generator's own log says which
acknowledged writes the new primary
lacks. dc-a is powered back (booting as a stray primary) and `rebuild-standby` reads its
timeline before rewinding it: `dr report lost-transactions` must name the same writes,
by branch, no more and no fewer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from lab.credit.observe import acknowledged_writes, lost_writes
from lab.pair_reset import reset_pair
from lab.topology import LabTopology
from orchestrator.credit.for_inventory import aftermath_for_inventory
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until
from orchestrator.postgresql.lag import measure

pytestmark = pytest.mark.integration
DR = [sys.executable, "-m", "orchestrator.cli.main"]
# The lab pair's RPO target; and the acknowledged writes made after the link is cut
# (the load generator writes 5 a second).
RPO_S = 20
BEHIND = 50
# The load generator's kinds -> the report messages' record kinds.
_RECORD_KIND = {"loan": "loan_open", "repayment": "repayment"}


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3", "DR_LANG": "en"}


def _inventory(lab, tmp_path: Path) -> str:
    data: dict[str, Any] = yaml.safe_load(lab.state.inventory_file.read_text())
    data["defaults"]["ssh"]["connect_timeout"] = 1
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return str(path)


def _dr(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DR, *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def _drill(tmp_path: Path, inventory: str, runbook: str, *extra: str) -> dict[str, Any]:
    result = _dr(tmp_path, "drill", runbook, "-i", inventory, "--auto-confirm", "--json", *extra)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def _facts(tmp_path: Path, run_id: str) -> dict[str, Any]:
    journal = Journal(_env(tmp_path)["DR_DB"])
    return {e.data["key"]: e.data["value"] for e in journal.events(run_id, kinds=("fact",))}


def _acked(lab) -> int:
    return len(acknowledged_writes(lab.state.observe / "loadgen.jsonl"))


def _seconds_behind(lab, topo: LabTopology) -> float:
    standby = lab.postgres(topo, "dc-b").standby_status()
    primary = lab.postgres(topo, "dc-a").standby_status()
    return measure(standby, primary).seconds or 0.0


def _power_back_dc_a(lab) -> None:
    ups = lab.ups().client()
    if ups.get("outlet.1.switch") != "on":
        ups.set("outlet.1.switch", "on")
    if "host-down dc-a" in lab.state.load().faults:
        lab.heal("host-down", ["dc-a"])
    topo = LabTopology(branches=lab.state.load().branches)
    assert wait_until(lambda: lab.postgres(topo, "dc-a").is_running, timeout=60)


@pytest.fixture
def pair(lab):
    reset_pair(lab)
    yield lab
    for key in [k for k in lab.state.load().faults if k.startswith("standby-lag")]:
        lab.heal("standby-lag", key.split()[1:])
    reset_pair(lab)


def test_the_rebuild_lists_exactly_the_acknowledged_writes_the_cutover_lost(pair, tmp_path):
    lab = pair
    inventory = _inventory(lab, tmp_path)
    topo = LabTopology(branches=lab.state.load().branches)
    log = lab.state.observe / "loadgen.jsonl"
    # The log spans the lab's session: writes earlier drills lost on purpose stay lost.
    earlier = {(w.kind, w.id, w.row_at) for w in lost_writes(log, lab.credit_dsn(topo, "dc-a"))}
    # The standby falls behind past the pair's RPO target (20 s), still receiving: from
    # its own side too it is seen behind, so the cutover must ask before promoting.
    lab.fault("standby-lag", [])
    assert wait_until(lambda: _seconds_behind(lab, topo) > RPO_S + 2, timeout=RPO_S * 4)
    # Then its link fails: what the primary acknowledges from now on, it never receives
    # (a promotion replays all a standby received; only this part can be lost).
    lab.fault("standby-lag", ["stream-cut"])
    held = _acked(lab)
    assert wait_until(lambda: _acked(lab) > held + BEHIND, timeout=60)
    lab.fault("host-down", ["dc-a"])

    cutover = _drill(tmp_path, inventory, "dual-host-cutover")
    steps = {s["id"]: s for s in cutover["steps"]}
    assert steps["approve-lagging-standby"]["status"] == "succeeded"
    assert steps["promote-standby"]["status"] == "succeeded"
    promoting_at = datetime.fromisoformat(_facts(tmp_path, cutover["id"])["promoting_at"])
    truth = [
        w
        for w in lost_writes(log, lab.credit_dsn(topo, "dc-b"), until=promoting_at)
        if (w.kind, w.id, w.row_at) not in earlier
    ]
    assert len(truth) >= BEHIND, "the cutover lost too few writes to judge the list"

    _power_back_dc_a(lab)
    opened = _dr(tmp_path, "incident", "open", "-i", inventory, "--category", "system",
                 "--level", "orange", "--summary", "credit pair cut over", "--json")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    incident = json.loads(opened.stdout)["id"]
    rebuilt = _drill(tmp_path, inventory, "rebuild-standby", "--incident", incident)
    rebuilt_steps = {s["id"]: s for s in rebuilt["steps"]}
    assert rebuilt_steps["list-lost-transactions"]["status"] == "succeeded"
    assert rebuilt_steps["rewind"]["result"]["rewound"] is True

    shown = _dr(tmp_path, "report", "lost-transactions", rebuilt["id"], "-f", "json")
    assert shown.returncode == 0, shown.stderr
    [listed] = json.loads(shown.stdout)["lists"]
    lost = [row for row in listed["rows"] if row["reason"] in ("missing", "replaced")]
    # Write for write: the same kinds and ids, each the very row (its own timestamp).
    assert {(r["kind"], int(r["key"])) for r in lost} == {(w.kind, w.id) for w in truth}
    times = {(w.kind, w.id): w.row_at for w in truth}
    for row in lost:
        assert datetime.fromisoformat(row["at"]) == times[(row["kind"], int(row["key"]))]
        assert row["branch"] and row["amount"]
    assert listed["lost_count"] == len(truth)

    # The report messages: once the lab's generator has batched what dc-a wrote before
    # it died (it reads both hosts' message files), every batch carrying a lost write is
    # named for regeneration, and for re-submission once submitted.
    lost_keys = {(_RECORD_KIND[w.kind], str(w.id)) for w in truth}
    inv = load_inventory(Path(inventory))
    rows = [r for r in listed["rows"] if r["reason"] != "changed"]

    seen: dict[str, Any] = {}

    def batched_and_submitted() -> bool:
        found = aftermath_for_inventory(inv, rows)
        resubmitted = {(r.kind, str(r.key)) for b in found.resubmit for r in b.lost}
        seen.update(
            unbatched=[r.label() for r in found.unbatched_lost][:5],
            not_resubmitted=sorted(lost_keys - resubmitted)[:5],
            extra=sorted(resubmitted - lost_keys)[:5],
            regenerate=len(found.regenerate),
        )
        return not found.unbatched_lost and resubmitted == lost_keys

    assert wait_until(batched_and_submitted, timeout=90, interval=2), seen
    report = _dr(tmp_path, "report", "lost-transactions", rebuilt["id"], "-f", "json", "-i",
                 inventory)  # fmt: skip
    messages = json.loads(report.stdout)["messages"]
    assert messages["checked"] is True
    named = {(r["kind"], str(r["key"])) for b in messages["resubmit"] for r in b["lost"]}
    assert named == lost_keys
    assert {b["batch_id"] for b in messages["resubmit"]} <= {
        b["batch_id"] for b in messages["regenerate"]
    }
    regenerated = {(r["kind"], str(r["key"])) for b in messages["regenerate"] for r in b["lost"]}
    assert regenerated == lost_keys

    # The incident the rebuild belongs to now owes each day of that business to the
    # credit centre by the next working day, and the branches their re-entry (补录).
    shown_incident = _dr(tmp_path, "incident", "show", incident, "--json")
    state = json.loads(shown_incident.stdout)
    days = {datetime.fromisoformat(r["at"]).astimezone(ZoneInfo("Asia/Shanghai")).date()
            for r in lost}  # fmt: skip
    owed = {d["key"] for d in state["deadlines"]}
    assert {f"credit-submission-{day.isoformat()}" for day in days} <= owed
    assert {r["branch"] for r in lost} <= set(state["reentry"])

    # The branches' list, in Chinese, by branch.
    chinese = _dr(tmp_path, "report", "lost-transactions", rebuilt["id"], "-f", "md", "--lang",
                  "zh", "-i", inventory)  # fmt: skip
    assert chinese.returncode == 0 and "丢失交易补录清单" in chinese.stdout
    branches = {r["branch"] for r in lost}
    assert all(f"网点 {b}" in chinese.stdout for b in branches), chinese.stdout[:2000]
    assert "Asia/Shanghai" in chinese.stdout
