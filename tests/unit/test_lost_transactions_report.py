"""`dr report lost-transactions RUN`: the re-entry list from a run's journaled record, by
branch, in the inventory's timezone; a run without a list is refused with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from orchestrator.journal import Journal
from orchestrator.journal.records import RunRecord
from orchestrator.postgresql.timeline_diff import TimelineDiff, TimelineRow

ROOT = Path(__file__).resolve().parents[2]
DR = [sys.executable, "-m", "orchestrator.cli.main"]
AT = datetime(2026, 12, 3, 6, 32, 7, tzinfo=UTC)  # 14:32:07 in Shanghai


def _run(run_id: str, runbook: str = "rebuild-standby") -> RunRecord:
    return RunRecord(
        id=run_id,
        runbook=runbook,
        runbook_digest="d" * 64,
        mode="live",
        status="succeeded",
        inventory_path="/inv.yaml",
        inventory_digest="i" * 64,
        inventory_name="example",
        environment="production",
        started_by="duty-wang",
        started_at="2026-12-03T07:00:00+00:00",
        params={},
        options={"lang": "zh"},
    )


def _diff() -> TimelineDiff:
    rows = (
        TimelineRow("loan", "loans", "4711", AT, "chengguan", Decimal("50000.00"), "missing"),
        TimelineRow(
            "repayment", "repayments", "88", AT, "chengguan", Decimal("1200.00"), "missing"
        ),
        TimelineRow("loan", "loans", "4712", AT, "xinzhuang", Decimal("8000.00"), "replaced"),
        TimelineRow("loan", "loans", "7", AT, "xinzhuang", Decimal("100.00"), "changed"),
    )
    return TimelineDiff({"loan": AT.isoformat()}, {"loan": 120, "repayment": 40}, rows)


def _journal(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/journal.sqlite3"
    journal = Journal(url)
    journal.create_run(_run("rebuild-1"))
    doc = {"pair": "credit", "old_primary": "credit-a", "new_primary": "credit-b"}
    journal.append(
        "lost_transactions", run_id="rebuild-1", host="credit-a", data={**doc, **_diff().to_dict()}
    )
    journal.create_run(_run("other-1", "line-failover"))
    journal.close()
    return url


def _dr(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DR_DB": url, "DR_LANG": "en"}
    return subprocess.run(
        [*DR, *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_the_list_is_by_branch_with_amounts_and_local_times(tmp_path: Path) -> None:
    url = _journal(tmp_path)
    inventory = str(ROOT / "inventory" / "example-production.yaml")
    shown = _dr(url, "report", "lost-transactions", "rebuild-1", "-i", inventory, "-f", "md",
                "--lang", "en")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "Branch chengguan: loan 1, repayment 1" in text
    assert "Branch xinzhuang: loan 1" in text
    assert "2026-12-03 14:32:07" in text and "Asia/Shanghai" in text
    assert "50000.00" in text and "its id now names a later write" in text
    assert "Rows changed after the split (check)" in text
    assert "59200.00" in text  # the lost amount in all: the changed row is not counted

    assert "Time (UTC+08:00)" in text and "+00:00" not in text

    # Without -i: the zone of the run's inventory, here no longer on this machine, so the
    # default zone (Asia/Shanghai), said beside the times.
    chinese = _dr(url, "report", "lost-transactions", "rebuild-1", "-f", "md", "--lang", "zh")
    assert "网点 chengguan" in chinese.stdout and "丢失交易补录清单" in chinese.stdout
    assert "2026-12-03 14:32:07" in chinese.stdout and "时间（UTC+08:00）" in chinese.stdout
    assert "比对起点**: loan 2026-12-03 14:32:07 UTC+08:00" in chinese.stdout

    data = json.loads(_dr(url, "report", "lost-transactions", "rebuild-1", "-f", "json").stdout)
    [listed] = data["lists"]
    assert listed["lost_count"] == 3 and listed["changed_count"] == 1
    assert TimelineDiff.from_dict(listed).rows == _diff().rows


def test_a_run_without_a_list_and_an_unknown_run_are_refused(tmp_path: Path) -> None:
    url = _journal(tmp_path)
    without = _dr(url, "report", "lost-transactions", "other-1", "-f", "md")
    assert without.returncode == 2
    assert "made no lost-transactions list" in without.stderr
    assert "Traceback" not in without.stderr
    unknown = _dr(url, "report", "lost-transactions", "no-such-run", "-f", "md")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
