"""Monthly restore tests, counted per backup set (DOMAIN.md: every month the full-system
backup is restored in a simulation, 平时每月对全系统备份数据要进行模拟恢复一次).

Each set of the inventory gets a row for every month of the period, so a set that had no
restore test that month shows as missing instead of vanishing behind another set's test.
Without an inventory the sets are those tested somewhere in the period.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from orchestrator.inventory import Inventory
from orchestrator.reports.i18n import ReportLang, pick
from orchestrator.reports.occasions import month_of


def set_names(occasions: list[dict[str, Any]], inventory: Inventory | None) -> list[str]:
    """The inventory's sets in its order, then sets tested in the period that it no
    longer names (a renamed or retired set still had its tests)."""
    named = [s.name for s in inventory.backup_sets] if inventory is not None else []
    tested = sorted(
        {o["backup_set"] for o in occasions if o["kind"] == "restore test"} - set(named)
    )
    return [*named, *tested]


def restore_months(
    occasions: list[dict[str, Any]], months: list[str], sets: list[str], zone: tzinfo
) -> list[dict[str, Any]]:
    """One row per month; in it, one entry per backup set. A month is `missing` when any
    set had no restore test in it, or, with no set known at all, when nothing was tested."""
    tests = [o for o in occasions if o["kind"] == "restore test"]
    rows = []
    for month in months:
        mine = [t for t in tests if month_of(t["at"], zone) == month]
        per_set = [_set_entry(name, [t for t in mine if t["backup_set"] == name]) for name in sets]
        missing_sets = [entry["backup_set"] for entry in per_set if entry["missing"]]
        rows.append(
            {
                "month": month,
                "tests": [t["id"] for t in mine],
                "passed": sum(1 for t in mine if t["status"] == "passed"),
                "failed": sum(1 for t in mine if t["status"] != "passed"),
                "sets": per_set,
                "sets_missing": missing_sets,
                "missing": bool(missing_sets) or not mine,
            }
        )
    return rows


def _set_entry(name: str, tests: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "backup_set": name,
        "tests": [t["id"] for t in tests],
        "passed": sum(1 for t in tests if t["status"] == "passed"),
        "failed": sum(1 for t in tests if t["status"] != "passed"),
        "missing": not tests,
    }


def missing_pairs(months: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every (month, set) without a restore test; a month with no set known is one pair
    whose set is empty."""
    pairs = []
    for month in months:
        if not month["sets"] and month["missing"]:
            pairs.append({"month": month["month"], "backup_set": ""})
        for name in month["sets_missing"]:
            pairs.append({"month": month["month"], "backup_set": name})
    return pairs


# ---- layout ---------------------------------------------------------------------------


def columns(lang: ReportLang) -> list[str]:
    return [
        pick(lang, "月份", "month"),
        pick(lang, "备份集", "backup set"),
        pick(lang, "测试", "tests"),
        pick(lang, "结果", "result"),
    ]


def rows(months: list[dict[str, Any]], lang: ReportLang) -> list[list[str]]:
    table = []
    for month in months:
        if not month["sets"]:
            table.append(
                [month["month"], "—", ", ".join(month["tests"]) or "—", _result(month, lang)]
            )
        for entry in month["sets"]:
            tests = ", ".join(entry["tests"]) or "—"
            table.append([month["month"], entry["backup_set"], tests, _result(entry, lang)])
    return table


def _result(entry: dict[str, Any], lang: ReportLang) -> str:
    if entry["missing"]:
        return pick(lang, "缺失：本月没有恢复测试", "MISSING: no restore test this month")
    if not entry["passed"]:
        return pick(
            lang,
            f"失败 {entry['failed']}：本月没有通过的恢复测试",
            f"{entry['failed']} failed: no restore test passed this month",
        )
    return pick(
        lang,
        f"通过 {entry['passed']}，失败 {entry['failed']}",
        f"{entry['passed']} passed, {entry['failed']} failed",
    )


def missing_text(pairs: list[dict[str, str]], lang: ReportLang) -> str:
    """'2026-11 credit, 2026-12 (no set known)' for the summary's one line."""
    words = []
    for pair in pairs:
        name = pair["backup_set"] or pick(lang, "（无任何恢复测试）", "(no restore test at all)")
        words.append(f"{pair['month']} {name}")
    return pick(lang, "、", ", ").join(words) or "—"
