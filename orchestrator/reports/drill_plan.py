"""`dr report drill-plan --year Y`: the annual drill plan (time, content, basis, purpose,
owner, cooperating parties) from the inventory's `drills:` schedule, with what the
journal shows was carried out so far."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory
from orchestrator.journal import Journal
from orchestrator.reports.blocks import Document, Heading, Paragraph, Table
from orchestrator.reports.i18n import ReportLang, pick
from orchestrator.reports.occasions import ALL_RUNS
from orchestrator.reports.verification import verification_paragraph, verify_journal
from orchestrator.shown_times import as_moment, zone_of


def build(journal: Journal, inventory: Inventory, year: int) -> dict[str, Any]:
    if not 2000 <= year <= 2100:
        raise UserInputError(f"--year {year} is not a plausible plan year; give e.g. 2027")
    planned = sorted((d for d in inventory.drills if d.when.year == year), key=lambda d: d.when)
    drills = [r for r in journal.list_runs(ALL_RUNS) if r.mode == "drill"]
    zone = zone_of(inventory)  # the plan's year is the institution's year
    entries = []
    for entry in planned:
        done = [
            r.id
            for r in drills
            if r.runbook == entry.runbook
            and as_moment(r.started_at).astimezone(zone).year == year
            and r.status == "succeeded"
        ]
        entries.append({**entry.model_dump(mode="json"), "carried_out": done})
    return {
        "report": "drill-plan",
        "year": year,
        "inventory": inventory.name,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timezone": str(zone),
        "verification": verify_journal(journal),
        "drills": entries,
        "has_full_scope_drill": any(e["full_scope"] for e in entries),
    }


def layout(data: dict[str, Any], lang: ReportLang) -> Document:
    year = data["year"]
    doc = Document(
        title=pick(lang, f"{year} 年度应急演练计划", f"Emergency drill plan {year}"),
        subtitle=data["inventory"],
        verification=verification_paragraph(data["verification"], lang),
    )
    add = doc.blocks.append
    add(Heading(pick(lang, "演练安排", "Schedule")))
    columns = [
        pick(lang, "时间", "when"),
        pick(lang, "演练内容（预案）", "content (runbook)"),
        pick(lang, "目的", "purpose"),
        pick(lang, "依据", "basis"),
        pick(lang, "负责人", "owner"),
        pick(lang, "配合单位", "cooperating parties"),
        pick(lang, "已完成的演练", "carried out"),
    ]
    rows = []
    for e in data["drills"]:
        content = e["runbook"] + (
            pick(lang, "（全面演练）", " (full scope)") if e["full_scope"] else ""
        )
        rows.append(
            [
                e["when"],
                content,
                e["purpose"],
                e["basis"],
                e["owner"],
                "、".join(e["participants"]) or "—",
                ", ".join(e["carried_out"]) or "—",
            ]
        )
    add(Table(columns, rows))
    if not data["drills"]:
        add(
            Paragraph(
                pick(
                    lang,
                    f"清单中没有 {year} 年的演练计划（drills: 段）。",
                    f"The inventory plans no drills for {year} (drills: section).",
                ),
                alert=True,
            )
        )
    if not data["has_full_scope_drill"]:
        add(
            Paragraph(
                pick(
                    lang,
                    "计划中没有全面演练：按规定每年至少进行一次全面演练。",
                    "The plan holds no full-scope drill: at least one a year is required "
                    "(CBRC 2008).",
                ),
                alert=True,
            )
        )
    return doc
