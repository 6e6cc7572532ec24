"""Every time a report prints reads in the inventory's zone with the zone said (issue 19):
the zone of the inventory given with -i, else of the one the run (or incident) was
started with, else Asia/Shanghai. The JSON keeps the journal's UTC and names the zone
its rendered form uses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import html5lib
from typer.testing import CliRunner

from orchestrator.cli import main
from orchestrator.incidents import IncidentStore
from orchestrator.journal import Journal
from orchestrator.journal.records import MeasurementRecord, RunRecord

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI_INVENTORY = ROOT / "inventory" / "example-production.yaml"
STARTED = "2026-12-04T23:59:58.894680+00:00"  # 07:59:58 on 5 December in Shanghai
LOST = "2026-12-05T00:00:01.250000+00:00"  # 08:00:01.250 in Shanghai, 01:00:01.250 in Berlin
RESTORED = "2026-12-05T00:00:07.635151+00:00"
UTC_TEXT = re.compile(r"\+00:00|T\d\d:\d\d")  # an ISO time as the journal holds it


def _berlin_inventory(tmp_path: Path) -> Path:
    text = SHANGHAI_INVENTORY.read_text(encoding="utf-8")
    berlin = tmp_path / "berlin.yaml"
    berlin.write_text(text.replace("timezone: Asia/Shanghai", "timezone: Europe/Berlin"))
    return berlin


def _drill(journal: Journal, run_id: str, inventory: Path, incident_id: str | None = None) -> None:
    journal.create_run(
        RunRecord(
            id=run_id,
            runbook="line-failover",
            runbook_digest="d" * 64,
            mode="drill",
            status="running",
            inventory_path=str(inventory),
            inventory_digest="i" * 64,
            inventory_name="example",
            environment="production",
            started_by="duty-wang",
            started_at=STARTED,
            params={},
            options={"lang": "zh"},
            incident_id=incident_id,
        )
    )
    for marker, at in (("service_lost", LOST), ("service_restored", RESTORED)):
        journal.append(
            "marker", run_id=run_id, data={"marker": marker, "at": at, "source": "probe"}
        )
    detail = {
        "lost_at": LOST,
        "restored_at": RESTORED,
        "lost_at_source": "probe",
        "restored_at_source": "probe",
    }
    journal.record_measurement(
        run_id,
        MeasurementRecord.judged("rto_seconds", 6.385, 1800, source="runbook", detail=detail),
    )
    journal.set_run_status(run_id, "succeeded", finished=True, actor="duty-wang")


def _report(db: str, *args: str) -> str:
    result = CliRunner().invoke(main.app, ["report", *args], env={"DR_DB": db})
    assert result.exit_code == 0, (result.stdout, result.exception)
    return result.stdout


def test_a_drill_report_reads_in_the_runs_inventory_zone(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    journal = Journal(db)
    _drill(journal, "drill-sh", SHANGHAI_INVENTORY)
    _drill(journal, "drill-berlin", _berlin_inventory(tmp_path))
    _drill(journal, "drill-gone", tmp_path / "no-longer-here.yaml")
    journal.close()

    markdown = _report(db, "drill", "drill-sh", "-f", "md", "--lang", "en")
    assert "2026-12-05 07:59:58 UTC+08:00 / 2026-12-05 " in markdown  # started / finished
    assert "| time (UTC+08:00) |" in markdown
    assert "| 2026-12-05 08:00:01.250 | service lost (probe) |" in markdown
    assert "RTO clock: from 2026-12-05 08:00:01.250 UTC+08:00 (probe)" in markdown
    assert not UTC_TEXT.search(markdown), UTC_TEXT.search(markdown)

    html = _report(db, "drill", "drill-sh", "-f", "html", "--lang", "zh")
    html5lib.HTMLParser(strict=True).parse(html)
    assert "时间（UTC+08:00）" in html and "2026-12-05 08:00:01.250" in html
    assert "2026-12-05 07:59:58 UTC+08:00" in html
    assert not UTC_TEXT.search(html), UTC_TEXT.search(html)

    # The run's own inventory says Berlin: its report reads in Berlin, unless -i says
    # otherwise; a run whose inventory is no longer here reads in the default zone.
    berlin = _report(db, "drill", "drill-berlin", "-f", "md", "--lang", "en")
    assert "| time (UTC+01:00) |" in berlin and "| 2026-12-05 01:00:01.250 |" in berlin
    chosen = _report(db, "drill", "drill-berlin", "-i", str(SHANGHAI_INVENTORY), "-f", "md")
    assert "| 2026-12-05 08:00:01.250 |" in chosen and "UTC+01:00" not in chosen
    assert "| 2026-12-05 08:00:01.250 |" in _report(db, "drill", "drill-gone", "-f", "md")

    data = json.loads(_report(db, "drill", "drill-berlin", "-f", "json"))
    assert data["timezone"] == "Europe/Berlin"
    assert data["run"]["started_at"] == STARTED  # the data stays the journal's UTC


def test_an_incident_report_reads_in_the_incidents_inventory_zone(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    journal = Journal(db)
    store = IncidentStore(journal)
    began = datetime(2026, 12, 4, 23, 30, 0, tzinfo=UTC)  # 07:30 on 5 December in Shanghai
    incident = store.open(
        inventory_name="example",
        inventory_path=str(SHANGHAI_INVENTORY),
        category="system",
        level="blue",
        summary="报文服务无响应 / report service down",
        actor="duty-wang",
        started_at=began,
    )
    _drill(journal, "handling-1", SHANGHAI_INVENTORY, incident_id=incident.id)
    store.update(incident.id, actor="duty-wang", business_restored=True)
    store.close(incident.id, actor="duty-wang", resolution="服务已重启 / service restarted")
    store.dispose()
    journal.close()

    markdown = _report(db, "incident", incident.id, "-f", "md", "--lang", "en")
    assert "**time**: 2026-12-05 07:30:00 UTC+08:00" in markdown
    assert "2026-12-05 07:59:58 UTC+08:00 line-failover (drill) succeeded" in markdown
    assert "| time (UTC+08:00) |" in markdown
    assert "| 2026-12-05 08:00:01.250 | service lost (probe) |" in markdown
    assert not UTC_TEXT.search(markdown), UTC_TEXT.search(markdown)

    html = _report(db, "incident", incident.id, "-f", "html", "--lang", "zh")
    html5lib.HTMLParser(strict=True).parse(html)
    assert "2026-12-05 07:30:00 UTC+08:00" in html and "时间（UTC+08:00）" in html
    assert not UTC_TEXT.search(html), UTC_TEXT.search(html)

    data = json.loads(_report(db, "incident", incident.id, "-f", "json"))
    assert data["timezone"] == "Asia/Shanghai"
    assert datetime.fromisoformat(data["incident"]["started_at"]) == began
