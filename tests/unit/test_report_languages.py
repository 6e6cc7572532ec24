"""What the reports say in the language asked for (the drill report's problems and its
RPO data point), and the zone `dr report rto-rpo` counts its days in without `-i`: that
of the inventory the journal's runs share, else UTC, said."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.journal import Journal
from orchestrator.journal.records import MeasurementRecord, RunRecord
from orchestrator.reports.occasions import runs_zone
from tests.unit.test_report_times import (
    LOST,
    SHANGHAI_INVENTORY,
    STARTED,
    _berlin_inventory,
    _drill,
    _report,
)


def _failed_drill(journal: Journal, run_id: str) -> None:
    """A drill whose fence step failed (the engine kept its Chinese beside the English)
    after a step that needed two attempts, and which measured an RPO."""
    journal.create_run(
        RunRecord(
            id=run_id,
            runbook="dual-host-cutover",
            runbook_digest="d" * 64,
            mode="drill",
            status="running",
            inventory_path=str(SHANGHAI_INVENTORY),
            inventory_digest="i" * 64,
            inventory_name="example",
            environment="production",
            started_by="duty-wang",
            started_at=STARTED,
        )
    )
    for attempt in (1, 2):
        journal.step_started(run_id, "check-pair", "", kind="check", attempt=attempt)
    journal.step_finished(run_id, "check-pair", "", kind="check", status="succeeded")
    journal.step_started(run_id, "fence-old-primary", "", kind="action", attempt=1)
    journal.step_finished(
        run_id,
        "fence-old-primary",
        "",
        kind="action",
        status="failed",
        error="dc-a could not be fenced",
        result={"error_zh": "无法隔离 dc-a"},
    )
    detail = {
        "lost_at": LOST,
        "last_data_point": "2026-12-04T23:58:00+00:00",
        "data_point_source": "last transaction replayed on dc-b",
        "data_point_source_zh": "dc-b 上最后回放的交易",
    }
    journal.record_measurement(
        run_id,
        MeasurementRecord.judged("rpo_seconds", 121.25, 60, source="runbook", detail=detail),
    )
    journal.set_run_status(
        run_id,
        "failed",
        detail="step fence-old-primary failed; fix the cause, then "
        f"`dr resume {run_id}` retries it",
        finished=True,
        actor="duty-wang",
    )


def test_the_drill_reports_problems_and_data_point_in_the_reports_language(tmp_path: Path):
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    journal = Journal(db)
    _failed_drill(journal, "drill-7")
    journal.close()

    zh = _report(db, "drill", "drill-7", "-f", "md", "--lang", "zh")
    assert "步骤 fence-old-primary 失败：无法隔离 dc-a" in zh
    assert "步骤 check-pair 共执行 2 次才完成" in zh
    assert "RPO 未达目标" in zh
    assert "运行结束，状态：失败：步骤 fence-old-primary 失败；排除故障原因后执行" in zh
    assert "RPO 数据点：2026-12-05 07:58:00.000 UTC+08:00（dc-b 上最后回放的交易）。" in zh
    for english in ("failed", "attempts", "target not met", "replayed"):
        assert english not in zh, english

    en = _report(db, "drill", "drill-7", "-f", "md", "--lang", "en")
    assert "step fence-old-primary failed: dc-a could not be fenced" in en
    assert "step check-pair needed 2 attempts" in en and "RPO target not met" in en
    assert "RPO data point: 2026-12-05 07:58:00.000 UTC+08:00 (last transaction replayed" in en
    assert "失败" not in en and "回放" not in en

    # The data keeps the English as before, the Chinese beside it.
    data = json.loads(_report(db, "drill", "drill-7", "-f", "json"))
    step = next(p for p in data["problems"] if p["kind"] == "step")
    assert step["what"] == "step fence-old-primary failed: dc-a could not be fenced"
    assert step["what_zh"] == "步骤 fence-old-primary 失败：无法隔离 dc-a"


def _rto_rpo(db: str, *extra: str, day: str = "2026-12-05") -> dict:
    return json.loads(_report(db, "rto-rpo", "--from", day, "--to", day, "-f", "json", *extra))


def test_rto_rpo_without_i_counts_days_in_the_zone_the_runs_share(tmp_path: Path):
    # Started 07:59:58 on 5 December in Shanghai: 4 December in UTC.
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    journal = Journal(db)
    _drill(journal, "drill-sh", SHANGHAI_INVENTORY)
    # A run whose inventory is no longer here names no zone: it does not outvote the rest.
    _drill(journal, "drill-gone", tmp_path / "no-longer-here.yaml")
    assert str(runs_zone(journal)) == "Asia/Shanghai"
    journal.close()

    data = _rto_rpo(db)
    assert data["period"]["timezone"] == "Asia/Shanghai"
    assert {o["id"] for o in data["occasions"]} == {"drill-sh", "drill-gone"}
    markdown = _report(db, "rto-rpo", "--from", "2026-12-05", "--to", "2026-12-05", "-f", "md")
    assert "(Asia/Shanghai)" in markdown and "2026-12-05 07:59:58" in markdown

    # Runs of two zones in one journal: no zone is theirs; the days are UTC's, said so.
    journal = Journal(db)
    _drill(journal, "drill-berlin", _berlin_inventory(tmp_path))
    assert runs_zone(journal) is None
    journal.close()
    data = _rto_rpo(db)
    assert data["period"]["timezone"] == "UTC" and data["occasions"] == []
    on_the_4th = _rto_rpo(db, day="2026-12-04")["occasions"]
    assert {o["id"] for o in on_the_4th} == {"drill-sh", "drill-gone", "drill-berlin"}
    # -i still decides when given.
    chosen = _rto_rpo(db, "-i", str(SHANGHAI_INVENTORY))
    assert chosen["period"]["timezone"] == "Asia/Shanghai" and len(chosen["occasions"]) == 3


def test_rto_rpo_without_i_and_no_zone_named_is_utc(tmp_path: Path):
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    journal = Journal(db)
    _drill(journal, "drill-gone", tmp_path / "no-longer-here.yaml")
    assert runs_zone(journal) is None
    journal.close()
    data = _rto_rpo(db)
    assert data["period"]["timezone"] == "UTC" and data["occasions"] == []
    markdown = _report(db, "rto-rpo", "--from", "2026-12-04", "--to", "2026-12-04", "-f", "md")
    assert "(UTC)" in markdown and "2026-12-04 23:59:58" in markdown
