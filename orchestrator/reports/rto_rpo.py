"""`dr report rto-rpo --from --to`: target against achieved RTO/RPO for every occasion."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from orchestrator.inventory import Inventory
from orchestrator.journal import Journal
from orchestrator.reports import restore_months, standards
from orchestrator.reports.blocks import Chart, Document, Heading, Paragraph, Series, Table
from orchestrator.reports.i18n import ReportLang, pick, seconds_text, verdict_text
from orchestrator.reports.occasions import (
    months_between,
    occasions_between,
    period_bounds,
    report_zone,
)
from orchestrator.reports.verification import verification_paragraph, verify_journal
from orchestrator.shown_times import shown_column, shown_time, zone_named


def build(
    journal: Journal, start: date, end: date, inventory: Inventory | None = None
) -> dict[str, Any]:
    # Without -i: the zone of the runs' inventory, as the drill report reads its run's.
    zone = report_zone(inventory, journal)
    low, high = period_bounds(start, end, zone)
    occasions = occasions_between(journal, low, high)
    edition = standards.edition_for(end)
    return {
        "report": "rto-rpo",
        "period": {"from": start.isoformat(), "to": end.isoformat(), "timezone": str(zone)},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "verification": verify_journal(journal),
        "standard": {
            "edition": edition.name,
            "superseded": standards.superseded(edition, end),
        },
        "occasions": occasions,
        "systems": _systems(occasions, edition),
        "restore_tests_by_month": restore_months.restore_months(
            occasions,
            months_between(low, min(high, datetime.now(zone))),
            restore_months.set_names(occasions, inventory),
            zone,
        ),
        "untested": _untested(occasions, inventory),
    }


def _systems(
    occasions: list[dict[str, Any]], edition: standards.StandardEdition
) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for occasion in occasions:
        grouped[(occasion["system"], occasion["procedure"])].append(occasion)
    systems = []
    for (system, procedure), items in sorted(grouped.items()):
        verdicts = [f["met"] for o in items for f in (o["rto"], o["rpo"]) if f]
        worst_rto = _worst(items, "rto")
        worst_rpo = _worst(items, "rpo")
        systems.append(
            {
                "system": system,
                "procedure": procedure,
                "occasions": len(items),
                "met": sum(1 for v in verdicts if v is True),
                "not_met": sum(1 for v in verdicts if v is False),
                "all_met": bool(verdicts) and all(v is not False for v in verdicts),
                "worst_rto_seconds": worst_rto,
                "worst_rpo_seconds": worst_rpo,
                "levels_within": standards.levels_within(edition, worst_rto, worst_rpo),
            }
        )
    return systems


def _worst(items: list[dict[str, Any]], key: str) -> float | None:
    values = [o[key]["seconds"] for o in items if o[key] and o[key]["seconds"] is not None]
    return max(values) if values else None


def _untested(occasions: list[dict[str, Any]], inventory: Inventory | None) -> list[str]:
    if inventory is None:
        return []
    tested = {o["system"] for o in occasions}
    return [t.system for t in inventory.targets if t.system not in tested]


# ---- layout ---------------------------------------------------------------------------


def layout(data: dict[str, Any], lang: ReportLang) -> Document:
    # Times read in the zone the period's days are counted in, so a time and its day agree.
    zone = zone_named(data["period"]["timezone"])
    period = f"{data['period']['from']} — {data['period']['to']} ({data['period']['timezone']})"
    doc = Document(
        title=pick(lang, "RTO/RPO 达成情况报告", "RTO/RPO achievement report"),
        subtitle=pick(lang, f"统计期间：{period}", f"Period: {period}"),
        verification=verification_paragraph(data["verification"], lang),
    )
    add = doc.blocks.append
    add(Heading(pick(lang, "按系统与预案汇总", "By system and procedure")))
    add(Table(_system_columns(lang), [_system_row(s, lang) for s in data["systems"]]))
    add(Paragraph(_standard_note(data["standard"], lang)))
    if data["untested"]:
        add(
            Paragraph(
                pick(lang, "本期未经任何演练或恢复的系统：", "Systems not exercised at all: ")
                + pick(lang, "、", ", ").join(data["untested"]),
                alert=True,
            )
        )
    add(
        Heading(
            pick(lang, "每次演练、实际恢复与恢复测试", "Every drill, real run and restore test")
        )
    )
    add(_occasion_table(data["occasions"], zone, lang))
    add(Heading(pick(lang, "趋势", "Trends")))
    for chart in _charts(data, zone, lang):
        add(chart)
    add(
        Heading(pick(lang, "每月备份恢复测试（按备份集）", "Monthly restore tests, per backup set"))
    )
    months = data["restore_tests_by_month"]
    add(Table(restore_months.columns(lang), restore_months.rows(months, lang)))
    return doc


def _system_columns(lang: ReportLang) -> list[str]:
    return [
        pick(lang, "系统", "system"),
        pick(lang, "预案", "procedure"),
        pick(lang, "次数", "occasions"),
        pick(lang, "达标/未达标", "met / not met"),
        pick(lang, "最差 RTO", "worst RTO"),
        pick(lang, "最差 RPO", "worst RPO"),
        pick(lang, "所落入的能力等级范围", "within levels' ranges"),
    ]


def _system_row(s: dict[str, Any], lang: ReportLang) -> list[str]:
    return [
        s["system"],
        s["procedure"],
        str(s["occasions"]),
        f"{s['met']} / {s['not_met']}",
        seconds_text(s["worst_rto_seconds"]),
        seconds_text(s["worst_rpo_seconds"]),
        ", ".join(str(lv) for lv in s["levels_within"]) or "—",
    ]


def _standard_note(standard: dict[str, Any], lang: ReportLang) -> str:
    name = standard["edition"]
    text = pick(
        lang,
        f"能力等级依据 {name} 资料性附录的 RTO/RPO 范围；各等级范围相互重叠，故只说明达成值"
        "落入哪些等级的范围，不据此评定等级（“分钟级”按 1 小时以内、“数小时”按 1 小时以上理解）。",
        f"Levels per the informative RTO/RPO table of {name}. The ranges overlap, so the "
        "report only says whose ranges the achieved figures fall within; it does not grade "
        "('minutes' read as up to 1 h, 'hours' as from 1 h).",
    )
    if standard["superseded"]:
        text += pick(
            lang,
            " 注意：GB/T 20988-2025 自 2026-01-01 起代替该版本，其等级表尚未录入。",
            " Note: GB/T 20988-2025 replaces it from 2026-01-01; its table is not yet in our data.",
        )
    return text


def _occasion_table(occasions: list[dict[str, Any]], zone: tzinfo, lang: ReportLang) -> Table:
    label, times = shown_column([o["at"] for o in occasions], zone)
    return Table(
        _occasion_columns(label, lang),
        [_occasion_row(o, when, lang) for o, when in zip(occasions, times, strict=True)],
    )


def _occasion_columns(zone_label: str, lang: ReportLang) -> list[str]:
    return [
        pick(lang, f"时间（{zone_label}）", f"when ({zone_label})"),
        pick(lang, "类别", "kind"),
        pick(lang, "系统 / 预案", "system / procedure"),
        pick(lang, "记录号", "record"),
        pick(lang, "RTO 达成 / 目标", "RTO achieved / target"),
        pick(lang, "RPO 达成 / 目标", "RPO achieved / target"),
        pick(lang, "实验室观测", "lab observed"),
    ]


_KINDS = {"drill": "演练", "real run": "实际恢复", "restore test": "恢复测试"}


def _occasion_row(o: dict[str, Any], when: str, lang: ReportLang) -> list[str]:
    observed = o["observed"] or {}
    lab = [
        f"{name.upper()} {seconds_text(found['seconds'])}"
        for name, found in observed.items()
        if found
    ]
    return [
        when,
        pick(lang, _KINDS[o["kind"]], o["kind"]),
        f"{o['system']} / {o['procedure']}",
        o["id"],
        _figure(o["rto"], lang),
        _figure(o["rpo"], lang),
        "; ".join(lab) or "—",
    ]


def _figure(found: dict[str, Any] | None, lang: ReportLang) -> str:
    if not found:
        return pick(lang, "未测量", "not measured")
    target = found["target_seconds"]
    return (
        f"{seconds_text(found['seconds'])} / {seconds_text(target)} "
        f"{verdict_text(lang, found['met'])}"
    )


def _charts(data: dict[str, Any], zone: tzinfo, lang: ReportLang) -> list[Chart]:
    charts = []
    for system in data["systems"]:
        items = [
            o
            for o in data["occasions"]
            if (o["system"], o["procedure"]) == (system["system"], system["procedure"])
        ]
        for key in ("rto", "rpo"):
            measured = [o for o in items if o[key]]
            if not measured:
                continue
            series = [Series(pick(lang, "达成", "achieved"), [o[key]["seconds"] for o in measured])]
            if any(o["observed"] and o["observed"][key] for o in measured):
                series.append(
                    Series(
                        pick(lang, "实验室观测", "lab observed"),
                        [_observed(o, key) for o in measured],
                    )
                )
            charts.append(
                Chart(
                    title=f"{system['system']} / {system['procedure']}: {key.upper()}",
                    x_labels=[shown_time(o["at"], zone, seconds=False) for o in measured],
                    series=series,
                    target=measured[-1][key]["target_seconds"],
                    target_label=pick(lang, "目标", "target"),
                    y_label=pick(lang, "秒", "seconds"),
                )
            )
    return charts


def _observed(occasion: dict[str, Any], key: str) -> float | None:
    found = (occasion["observed"] or {}).get(key)
    return found["seconds"] if found else None
