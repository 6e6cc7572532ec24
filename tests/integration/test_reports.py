"""Reports generated from real recorded runs: a runbook over real sshd attached to an
incident, a restore test with restic, and a line-failover drill on the lab. Every number
in a report's data is checked against the journal; PDFs are rendered to PNG pages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import html5lib
import pytest
import yaml
from typer.testing import CliRunner

from backups.actions.init import init_set
from backups.actions.restore_test import restore_test
from backups.actions.run import run_backup
from lab import local_target
from lab.observed_record import record_lab_observation
from orchestrator.cli import main
from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.errors import EXIT_BAD_INPUT, DrError
from orchestrator.incidents import IncidentStore, Scope
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port, wait_until
from tests.integration.test_backups import RESTIC_PASSWORD, context, write_inventory

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parent.parent.parent


def today() -> str:
    """Read when a report is asked for, not when the file is imported: a lab lane that
    starts before midnight (UTC, the reports' day without an inventory) runs these after."""
    return datetime.now(UTC).date().isoformat()


def first_of_month() -> str:
    return today()[:8] + "01"


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def dr_report(db: str, *args: str) -> Done:
    """`dr report ...` in this process (each new Python costs seconds of imports); DrError
    maps to its exit code and message as `orchestrator.cli.main.run` does."""
    result = CliRunner().invoke(main.app, ["report", *args], env={"DR_DB": db})
    if isinstance(result.exception, DrError):
        return Done(result.exception.exit_code, result.stdout, f"error: {result.exception.message}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Done(result.exit_code, result.stdout, result.stderr)


def dr_subprocess(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "report", *args],
        env={**os.environ, "DR_DB": db},
        capture_output=True,
        text=True,
        timeout=120,
    )


def report_json(db: str, *args: str) -> dict:
    done = dr_report(db, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def journal_figure(journal: Journal, run_id: str, name: str, source: str = "runbook"):
    [found] = [m for m in journal.measurements(run_id) if m.name == name and m.source == source]
    return found


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One journal holding a drill attached to an incident and a restore test."""
    tmp = tmp_path_factory.mktemp("reports")
    db = f"sqlite:///{tmp}/journal.sqlite3"
    journal = Journal(db)
    target_inventory = local_target.up(tmp / "target")
    try:
        inventory = load_inventory(target_inventory)
        store = IncidentStore(journal)
        incident = store.open(
            inventory_name=inventory.name,
            inventory_path=str(target_inventory),
            category="system",
            level="blue",
            summary="报文服务无响应 / report service down",
            actor="duty-wang",
            scope=Scope(branches_down=2, branches_total=5),
        )
        service = tmp / "target" / "service"
        options = RunOptions(
            mode="drill",
            operator="duty-wang",
            auto_confirm=True,
            incident_id=incident.id,
            params={
                "service_dir": str(service),
                "message_dir": f"{service}/messages",
                "port": find_free_port(),
            },
        )
        outcome = Engine(journal, RunbookRegistry.discover([])).start(
            "report-service-restart", inventory, options
        )
        assert outcome.status == "succeeded"
        store.update(incident.id, actor="duty-wang", business_restored=True)
        store.close(incident.id, actor="duty-wang", resolution="服务已重启 / service restarted")
    finally:
        local_target.down(tmp / "target")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp / "state"))
        (tmp / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
        (tmp / "data").mkdir()
        (tmp / "data" / "report.xml").write_text("<report>征信</report>\n")
        backup_inventory = write_inventory(tmp, {"rto": "1h", "rpo": "1d"})
        init_set(context(backup_inventory))
        run_backup(context(backup_inventory))
        test = restore_test(context(backup_inventory, journal))
        assert test.outcome == "passed", test.cause
    return {
        "db": db,
        "journal": journal,
        "tmp": tmp,
        "run_id": outcome.run_id,
        "incident_id": incident.id,
        "restore_test": test,
        "inventory": target_inventory,
    }


def test_rto_rpo_report_numbers_are_the_journals(recorded):
    journal, run_id = recorded["journal"], recorded["run_id"]
    data = report_json(recorded["db"], "rto-rpo", "--from", first_of_month(), "--to", today())
    assert data["verification"]["ok"] is True
    assert data["verification"]["events_checked"] == journal.verify().checked
    by_id = {o["id"]: o for o in data["occasions"]}
    drill = by_id[run_id]
    assert (drill["kind"], drill["system"], drill["procedure"]) == (
        "drill",
        "credit-report",
        "report-service-restart",
    )
    for key in ("rto", "rpo"):
        measured = journal_figure(journal, run_id, f"{key}_seconds")
        assert drill[key]["seconds"] == measured.value_seconds
        assert drill[key]["target_seconds"] == measured.target_seconds
        assert drill[key]["met"] is measured.met is True
    [event] = journal.events(kinds=("restore_test.finished",))
    restore = by_id[recorded["restore_test"].test_id]
    assert restore["rto"]["seconds"] == event.data["measurements"]["rto"]["seconds"]
    assert restore["rpo"]["seconds"] == event.data["measurements"]["rpo"]["seconds"]
    assert restore["rto"]["target_seconds"] == 3600 and restore["rto"]["met"] is True
    this_month = data["restore_tests_by_month"][-1]
    assert this_month["month"] == today()[:7] and this_month["passed"] == 1
    assert not this_month["missing"]
    [system] = [s for s in data["systems"] if s["procedure"] == "report-service-restart"]
    assert (
        system["worst_rto_seconds"] == journal_figure(journal, run_id, "rto_seconds").value_seconds
    )
    assert data["standard"]["edition"] == "GB/T 20988-2007"


def test_rto_rpo_flags_months_without_a_restore_test(recorded):
    data = report_json(recorded["db"], "rto-rpo", "--from", "2026-01-01", "--to", "2026-02-28")
    assert data["occasions"] == []
    assert [(m["month"], m["missing"]) for m in data["restore_tests_by_month"]] == [
        ("2026-01", True),
        ("2026-02", True),
    ]
    markdown = dr_report(
        recorded["db"], "rto-rpo", "--from", "2026-01-01", "--to", "2026-02-28",
        "--format", "md", "--lang", "en",
    ).stdout  # fmt: skip
    assert "MISSING: no restore test this month" in markdown
    assert "Journal verification: PASSED" in markdown.split("## ")[0]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_rto_rpo_pdf_has_pages_charts_and_readable_chinese(recorded, lang):
    pdf = recorded["tmp"] / f"rto-rpo-{lang}.pdf"
    done = dr_report(
        recorded["db"], "rto-rpo", "--from", first_of_month(), "--to", today(),
        "--format", "pdf", "--lang", lang, "-o", str(pdf),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pages = pdf_pages(pdf)
    assert pages and all(p.stat().st_size > 5000 for p in pages)
    # drill RTO, drill RPO, restore-test RTO, restore-test RPO: four trend charts
    assert pdf_image_count(pdf) == 4
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    if lang == "zh":
        assert "RTO/RPO 达成情况报告" in text and "日志校验：通过" in text
    else:
        assert "Journal verification: PASSED" in text
        assert_no_word_is_cut(text, recorded, pdf)


def assert_no_word_is_cut(text: str, recorded, pdf: Path) -> None:
    """Every English word pdftotext reads is a word of the report's own text: a word
    broken across two lines would come out as two pieces that are not."""
    from orchestrator.reports import rto_rpo

    data = report_json(recorded["db"], "rto-rpo", "--from", first_of_month(), "--to", today())
    document = rto_rpo.layout(data, "en")
    source = " ".join(
        [document.title, document.subtitle, document.verification.text]
        + [getattr(b, "text", "") for b in document.blocks]
        + [c for b in document.blocks for row in getattr(b, "rows", []) for c in row]
        + [c for b in document.blocks for c in getattr(b, "columns", [])]
    )
    known = set(re.findall(r"[A-Za-z]{3,}", source))
    read = re.findall(r"[A-Za-z]{3,}", text)
    assert {"achieved", "procedure", "occasions"} <= set(read)
    assert set(read) - known - CHART_WORDS == set(), pdf


# Words of the chart images' own labels, which pdftotext does not read but which are
# named here so that a change to them is a choice.
CHART_WORDS: set[str] = set()


def test_restore_tests_are_counted_per_backup_set_of_the_inventory(recorded):
    """The inventory names two sets; only one was restore-tested this month: the other
    is reported missing for the month, in the data, the table and the summary."""
    tmp, db = recorded["tmp"], recorded["db"]
    document = yaml.safe_load((tmp / "inventory.yaml").read_text())
    ledger = {**document["backup_sets"][0], "name": "ledger", "repository": str(tmp / "r2")}
    document["backup_sets"].append(ledger)
    two_sets = tmp / "two-sets.yaml"
    two_sets.write_text(yaml.safe_dump(document, allow_unicode=True))
    local = datetime.now(ZoneInfo(load_inventory(two_sets).timezone)).date()
    period = ("--from", local.replace(day=1).isoformat(), "--to", local.isoformat())
    data = report_json(db, "rto-rpo", "-i", str(two_sets), *period)
    this_month = data["restore_tests_by_month"][-1]
    by_set = {entry["backup_set"]: entry for entry in this_month["sets"]}
    assert list(by_set) == ["credit", "ledger"]
    assert by_set["credit"]["tests"] == [recorded["restore_test"].test_id]
    assert by_set["credit"]["passed"] == 1 and not by_set["credit"]["missing"]
    assert by_set["ledger"]["missing"] and by_set["ledger"]["tests"] == []
    assert this_month["missing"] and this_month["sets_missing"] == ["ledger"]
    markdown = dr_report(db, "rto-rpo", "-i", str(two_sets), *period, "-f", "md", "--lang", "en")
    [row] = [line for line in markdown.stdout.splitlines() if "| ledger |" in line]
    assert local.strftime("%Y-%m") in row and "MISSING: no restore test this month" in row
    quarter = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    summary = report_json(db, "summary", "-i", str(two_sets), "--quarter", quarter)
    month = local.strftime("%Y-%m")
    assert {"month": month, "backup_set": "ledger"} in summary["restore_tests_missing"]
    assert {"month": month, "backup_set": "credit"} not in summary["restore_tests_missing"]


def test_reports_follow_dr_lang_unless_lang_is_given(recorded, monkeypatch):
    args = ("rto-rpo", "--from", "2026-01-01", "--to", "2026-01-31", "-f", "md")
    monkeypatch.delenv("DR_LANG", raising=False)
    assert "RTO/RPO 达成情况报告" in dr_report(recorded["db"], *args).stdout
    monkeypatch.setenv("DR_LANG", "en")
    assert "RTO/RPO achievement report" in dr_report(recorded["db"], *args).stdout
    assert "RTO/RPO 达成情况报告" in dr_report(recorded["db"], *args, "--lang", "zh").stdout
    monkeypatch.setenv("DR_LANG", "fr")
    refused = dr_report(recorded["db"], *args)
    assert refused.returncode == EXIT_BAD_INPUT and "DR_LANG 'fr'" in refused.stderr


def test_html_with_charts_parses_cleanly_and_its_ids_are_unique(recorded):
    done = dr_report(
        recorded["db"], "rto-rpo", "--from", first_of_month(), "--to", today(), "-f", "html"
    )
    assert done.returncode == 0 and done.stdout.count("<svg") == 4
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    tree = parser.parse(done.stdout)  # strict: the first parse error raises
    ids = [element.get("id") for element in tree.iter() if element.get("id")]
    assert ids and len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1][:5]
    # Every reference inside a chart resolves to that chart's own definition.
    for svg in re.findall(r"<svg.*?</svg>", done.stdout, flags=re.S):
        own = set(re.findall(r'\bid="([^"]+)"', svg))
        used = set(re.findall(r'(?:url\(#|href="#)([^")]+)', svg))
        assert used and used <= own


def test_drill_report_in_every_format(recorded):
    journal, run_id, db = recorded["journal"], recorded["run_id"], recorded["db"]
    data = report_json(db, "drill", run_id)
    assert data["run"]["status"] == "succeeded" and data["problems"] == []
    assert data["results"]["runbook_rto"]["seconds"] == (
        journal_figure(journal, run_id, "rto_seconds").value_seconds
    )
    markers = [e["data"]["marker"] for e in data["timeline"] if e["kind"] == "marker"]
    assert markers == ["service_lost", "last_data_point", "service_restored"]
    assert "duty-wang" in data["participants"]
    html = dr_report(db, "drill", run_id, "--format", "html", "--lang", "en").stdout
    assert html.count("<svg") == 1 and "Main process and key timestamps" in html
    markdown = dr_report(db, "drill", run_id, "--format", "md").stdout
    assert "七、结论" in markdown and "演练成功" in markdown
    # Times in the zone of the inventory the drill ran with (Asia/Shanghai), said.
    assert data["timezone"] == "Asia/Shanghai"
    assert "时间（UTC+08:00）" in markdown and "+00:00" not in markdown
    pdf = recorded["tmp"] / "drill.pdf"
    assert dr_report(db, "drill", run_id, "-f", "pdf", "-o", str(pdf)).returncode == 0
    assert pdf_pages(pdf) and pdf_image_count(pdf) == 1


def test_incident_report_has_the_regulators_fields_and_the_journals_times(recorded):
    db, incident_id = recorded["db"], recorded["incident_id"]
    details = recorded["tmp"] / "details.yaml"
    details.write_text(
        "location: 县联社数据中心 / county data centre\n"
        "cause_analysis: 服务进程退出 / the service process exited\n"
        "contact: 王磊 0571-0000 / Wang Lei\n"
    )
    data = report_json(db, "incident", incident_id, "--details", str(details))
    store = IncidentStore(recorded["journal"])
    incident = store.get(incident_id)
    assert data["outage_seconds"] == round(incident.outage_seconds(datetime.now(UTC)), 3)
    handled = (incident.closed_at - incident.started_at).total_seconds()
    assert data["handling_seconds"] == round(handled, 3)
    assert [r["id"] for r in data["runs"]] == [recorded["run_id"]]
    assert "regulator_coordination" in data["narrative_missing"]
    assert "location" not in data["narrative_missing"]
    kinds = {e["kind"] for e in data["timeline"]}
    assert {"incident.opened", "incident.closed", "marker"} <= kinds
    # Closed, and the 2-day fault report to the leadership not yet marked done.
    [fault] = [d for d in data["deadlines_owed"] if d["key"] == "fault-report"]
    assert fault["due_local"].endswith("UTC+08:00")
    markdown = dr_report(db, "incident", incident_id, "-f", "md", "--details", str(details))
    assert data["timezone"] == "Asia/Shanghai" and "+00:00" not in markdown.stdout
    assert "UTC+08:00" in markdown.stdout.split("发生时间")[1].splitlines()[0]
    for field in ("尚未完成的时限", "发生时间", "发生地点", "事件现象", "影响业务范围",
                  "原因分析", "初步评估", "已采取的措施", "下一步工作安排", "报告单位",
                  "联系人及联系方式", "需监管部门协调的事项", "根本原因", "整改措施"):  # fmt: skip
        assert field in markdown.stdout, field
    bad = recorded["tmp"] / "bad.yaml"
    bad.write_text("symptom: typo\n")
    refused = dr_report(db, "incident", incident_id, "--details", str(bad))
    assert refused.returncode == EXIT_BAD_INPUT and "unknown field 'symptom'" in refused.stderr


def test_summary_and_drill_plan(recorded):
    db = recorded["db"]
    # With -i the quarter is the inventory's own (Asia/Shanghai by default), not UTC's.
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    quarter = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    inventory = str(recorded["inventory"])
    data = report_json(db, "summary", "-i", inventory, "--quarter", quarter)
    [system] = data["systems"]
    rto = journal_figure(recorded["journal"], recorded["run_id"], "rto_seconds")
    assert system["status"] == "met" and system["worst_rto_seconds"] == rto.value_seconds
    pdf = recorded["tmp"] / "summary.pdf"
    done = dr_report(db, "summary", "-i", inventory, "--quarter", quarter, "-f", "pdf",
                     "-o", str(pdf))  # fmt: skip
    assert done.returncode == 0 and len(pdf_pages(pdf)) == 1 and pdf_image_count(pdf) == 1
    plan = report_json(
        db, "drill-plan", "--year", "2027", "-i", str(ROOT / "inventory/example-production.yaml")
    )
    assert [d["runbook"] for d in plan["drills"]] == [
        "line-failover",
        "dual-host-switchover",
        "power-outage",
    ]
    assert plan["has_full_scope_drill"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["drill", "no-such-run"], "no run 'no-such-run'"),
        (["rto-rpo", "--from", "2026-13-01", "--to", "2026-12-31"], "is not a date"),
        (["rto-rpo", "--from", "2026-12-01", "--to", "2026-11-01"], "is before --from"),
        (["incident", "INC-nope"], "no incident 'INC-nope'"),
        (
            ["summary", "-i", str(ROOT / "inventory/lab.yaml"), "--quarter", "2026-Q5"],
            "not a quarter",
        ),
        (["drill", "x", "--format", "docx"], "--format 'docx'"),
        (["drill", "x", "--lang", "fr"], "not a report language"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
    db = f"sqlite:///{tmp_path}/j.sqlite3"
    Journal(db).close()  # an existing, empty journal: a missing one is refused first
    done = dr_report(db, *args)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert message in done.stderr


def test_the_real_command_exits_2_without_a_traceback(tmp_path):
    db = f"sqlite:///{tmp_path}/j.sqlite3"
    Journal(db).close()
    done = dr_subprocess(db, "drill", "no-such-run")
    assert done.returncode == EXIT_BAD_INPUT
    assert "no run 'no-such-run'" in done.stderr and "Traceback" not in done.stderr


def test_lab_drill_shows_the_labs_observed_rto_beside_the_runbooks(lab, tmp_path):
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    inventory = str(lab.state.inventory_file)
    env = {**os.environ, "DR_DB": db, "DR_LANG": "en"}

    def drill(runbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", "drill", runbook, "-i", inventory,
             "--auto-confirm", "-p", "branch=branch-1", *extra, "--json"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    def prober_up() -> bool:
        status = json.loads((lab.state.observe / "prober-branch-1.json").read_text())
        return status["state"] == "up"

    lab.fault("line-cut", ["branch-1", "primary"])
    try:
        assert wait_until(lambda: not prober_up(), timeout=10)
        done = drill("line-failover")
        assert done.returncode == 0, done.stderr
        run_id = json.loads(done.stdout)["id"]
        assert wait_until(prober_up, timeout=10)
    finally:
        lab.heal("line-cut", ["branch-1", "primary"])
    back = drill("line-failback", "-p", "stable_for=2")
    assert back.returncode == 0, back.stderr

    journal = Journal(db)
    [observed] = record_lab_observation(journal, run_id, lab.state.observe, "branch-1")
    # From yesterday: the drill may have begun before midnight.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    data = report_json(db, "rto-rpo", "--from", yesterday, "--to", today())
    occasion = next(o for o in data["occasions"] if o["id"] == run_id)
    lab_rto = journal_figure(journal, run_id, "rto_seconds", source="lab")
    assert occasion["observed"]["rto"]["seconds"] == lab_rto.value_seconds == observed.value_seconds
    own = journal_figure(journal, run_id, "rto_seconds")
    assert occasion["rto"]["seconds"] == own.value_seconds
    # the lab's figure is the prober's own outage, from the cut to the branch's first answer
    detail = lab_rto.detail
    seen = datetime.fromisoformat(detail["outage_end"]) - datetime.fromisoformat(
        detail["outage_start"]
    )
    assert detail["resolved"] and lab_rto.value_seconds == round(seen.total_seconds(), 3) > 0
    assert occasion["observed"]["rto"]["met"] is True
    report = report_json(db, "drill", run_id)
    assert report["results"]["lab_rto"]["seconds"] == lab_rto.value_seconds
    pdf = tmp_path / "drill.pdf"
    assert (
        dr_report(db, "drill", run_id, "-f", "pdf", "--lang", "en", "-o", str(pdf)).returncode == 0
    )
    assert pdf_pages(pdf) and pdf_image_count(pdf) == 1


def pdf_pages(pdf: Path) -> list[Path]:
    prefix = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(prefix)], check=True)
    return sorted(pdf.parent.glob(f"{prefix.name}-*.png"))


def pdf_image_count(pdf: Path) -> int:
    listing = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return sum(1 for line in listing.splitlines()[2:] if line.split()[2] == "image")
