"""`dr report summary`: one page for management, readable in a minute: which systems met
their targets this quarter, which did not, what was not tested."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory
from orchestrator.journal import Journal
from orchestrator.reports import restore_months, rto_rpo
from orchestrator.reports.blocks import Chart, Document, Paragraph, Series, Table
from orchestrator.reports.i18n import VERDICT_WORDS, ReportLang, pick, seconds_text
from orchestrator.verdicts import MET, NOT_MET

# A system's status for the quarter is a verdict (met, not met), or this when no drill,
# run or restore test exercised it.
NOT_TESTED = "not tested"


def quarter_bounds(quarter: str | None, zone: tzinfo = UTC) -> tuple[date, date]:
    """The days of `quarter` (e.g. 2026-Q4), or of the current one in `zone`."""
    if quarter is None:
        today = datetime.now(zone).date()
        year, number = today.year, (today.month - 1) // 3 + 1
    else:
        match = re.fullmatch(r"(\d{4})-?Q([1-4])", quarter.strip().upper())
        if match is None:
            raise UserInputError(f"--quarter {quarter!r} is not a quarter; write e.g. 2026-Q4")
        year, number = int(match[1]), int(match[2])
    first = date(year, 3 * number - 2, 1)
    after = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return first, after - timedelta(days=1)


def build(journal: Journal, inventory: Inventory, first: date, last: date) -> dict[str, Any]:
    detail = rto_rpo.build(journal, first, last, inventory)
    systems = []
    for target in inventory.targets:
        mine = [o for o in detail["occasions"] if o["system"] == target.system]
        verdicts = [f["met"] for o in mine for f in (o["rto"], o["rpo"]) if f]
        measured = [o["rto"] for o in mine if o["rto"]]
        # The worst occasion, with the target the journal recorded beside it.
        worst = max(measured, key=lambda f: f["seconds"], default=None)
        status = NOT_TESTED if not mine else (NOT_MET if False in verdicts else MET)
        systems.append(
            {
                "system": target.system,
                "rto_target_seconds": worst["target_seconds"] if worst else target.rto,
                "rpo_target_seconds": target.rpo,
                "occasions": [o["id"] for o in mine],
                "worst_rto_seconds": worst["seconds"] if worst else None,
                "status": status,
            }
        )
    months = detail["restore_tests_by_month"]
    return {
        "report": "summary",
        "period": detail["period"],
        "inventory": inventory.name,
        "generated_at": detail["generated_at"],
        "verification": detail["verification"],
        "systems": systems,
        "restore_test_months_missing": [m["month"] for m in months if m["missing"]],
        # Each (month, backup set) with no restore test: a set is never hidden by another.
        "restore_tests_missing": restore_months.missing_pairs(months),
        "restore_tests_failed": sum(m["failed"] for m in months),
    }


def layout(data: dict[str, Any], lang: ReportLang) -> Document:
    period = f"{data['period']['from']} — {data['period']['to']}"
    doc = Document(
        title=pick(lang, "灾备恢复能力季度摘要", "Disaster-recovery quarterly summary"),
        subtitle=f"{data['inventory']} · {period}",
        verification=_verification_line(data, lang),
    )
    add = doc.blocks.append
    by_status = {
        s: [x["system"] for x in data["systems"] if x["status"] == s]
        for s in (MET, NOT_MET, NOT_TESTED)
    }
    sep = "、" if lang == "zh" else ", "
    add(
        Paragraph(
            pick(lang, "达到目标：", "Met their targets: ") + (sep.join(by_status[MET]) or "—")
        )
    )
    add(
        Paragraph(
            pick(lang, "未达到目标：", "Did NOT meet their targets: ")
            + (sep.join(by_status[NOT_MET]) or "—"),
            alert=bool(by_status[NOT_MET]),
        )
    )
    add(
        Paragraph(
            pick(lang, "本季度未经演练或测试：", "Not tested this quarter: ")
            + (sep.join(by_status[NOT_TESTED]) or "—"),
            alert=bool(by_status[NOT_TESTED]),
        )
    )
    missing = data["restore_tests_missing"]
    add(
        Paragraph(
            pick(
                lang,
                "缺少恢复测试的月份与备份集：",
                "Backup sets without a restore test, by month: ",
            )
            + restore_months.missing_text(missing, lang)
            + pick(
                lang,
                f"；失败的恢复测试 {data['restore_tests_failed']} 次。",
                f"; failed restore tests: {data['restore_tests_failed']}.",
            ),
            alert=bool(missing) or data["restore_tests_failed"] > 0,
        )
    )
    words = {**VERDICT_WORDS, NOT_TESTED: ("未测试", "not tested")}
    add(
        Table(
            [
                pick(lang, "系统", "system"),
                pick(lang, "恢复时间目标", "RTO target"),
                pick(lang, "本季度最长恢复时间", "longest recovery"),
                pick(lang, "结论", "status"),
            ],
            [
                [
                    s["system"],
                    seconds_text(s["rto_target_seconds"]),
                    seconds_text(s["worst_rto_seconds"]),
                    pick(lang, *words[s["status"]]),
                ]
                for s in data["systems"]
            ],
        )
    )
    tested = [s for s in data["systems"] if s["worst_rto_seconds"] is not None]
    if tested:
        add(
            Chart(
                title=pick(
                    lang,
                    "最长恢复时间占目标的百分比（100% 以下为达标）",
                    "Longest recovery as % of its target (under 100% is met)",
                ),
                x_labels=[s["system"] for s in tested],
                series=[
                    Series(pick(lang, "占目标 %", "% of target"), [_percent(s) for s in tested])
                ],
                target=100.0,
                target_label=pick(lang, "目标", "target"),
                y_label="%",
                y_unit="ratio",
            )
        )
    return doc


def _percent(system: dict[str, Any]) -> float | None:
    target = system["rto_target_seconds"]
    if not target:
        return None
    return round(100.0 * system["worst_rto_seconds"] / target, 1)


def _verification_line(data: dict[str, Any], lang: ReportLang) -> Paragraph:
    from orchestrator.reports.verification import verification_paragraph

    return verification_paragraph(data["verification"], lang)
