"""`dr report drill RUN_ID`: the drill summary report (CBRC 2008 contents): purpose,
overall plan, participants, preparation, main process with key timestamps, problems
found, improvements, conclusion."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from orchestrator.cli.step_words import status_word
from orchestrator.engine.messages import in_language
from orchestrator.inventory import Inventory
from orchestrator.journal import Journal
from orchestrator.journal.chained_rows import verified_measurements
from orchestrator.journal.run_document import run_document
from orchestrator.reports.blocks import Chart, Document, Facts, Heading, Paragraph, Series, Table
from orchestrator.reports.i18n import ReportLang, pick, seconds_text, verdict_text
from orchestrator.reports.occasions import figure
from orchestrator.reports.timeline import key_events, timeline_table
from orchestrator.reports.verification import verification_paragraph, verify_journal
from orchestrator.shown_times import as_moment, run_zone, shown_time, zone_named, zone_of


def build(journal: Journal, run_id: str, inventory: Inventory | None = None) -> dict[str, Any]:
    run = run_document(journal, run_id)
    # Times read in the given inventory's zone, else in that of the inventory the drill
    # ran with (the default zone when that file is not here).
    zone = zone_of(inventory) if inventory is not None else run_zone(run)
    events = journal.events(run_id)
    records = verified_measurements(journal, run_id)
    results = {
        f"{source}_{name}": figure(records, f"{name}_seconds", source)
        for source in ("runbook", "lab")
        for name in ("rto", "rpo")
    }
    return {
        "report": "drill",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timezone": str(zone),
        "verification": verify_journal(journal),
        "run": {
            k: run[k]
            for k in (
                "id",
                "runbook",
                "mode",
                "status",
                "detail",
                "started_by",
                "started_at",
                "finished_at",
                "reason",
                "incident_id",
            )
        },
        "plan": _planned(inventory, run["runbook"], run["started_at"], zone),
        "participants": sorted({e.actor for e in events if e.actor}),
        "preparation": {
            "inventory": run["inventory"],
            "runbook_digest": run["runbook_digest"],
            "params": run["params"],
        },
        "timeline": key_events(events),
        "steps": [
            {
                k: s[k]
                for k in ("id", "kind", "status", "attempts", "started_at", "finished_at", "error")
            }
            for s in run["steps"]
        ],
        "results": results,
        "problems": _problems(run, results),
    }


def _planned(
    inventory: Inventory | None, runbook: str, started_at: str, zone: tzinfo
) -> dict[str, Any] | None:
    """The plan entry this drill carried out: same runbook, same year, nearest day (the
    institution's day: the plan is written in it)."""
    if inventory is None:
        return None
    day = as_moment(started_at).astimezone(zone).date()
    entries = [d for d in inventory.drills if d.runbook == runbook and d.when.year == day.year]
    if not entries:
        return None
    entry = min(entries, key=lambda d: abs((d.when - day).days))
    return entry.model_dump(mode="json")


def _problems(run: dict[str, Any], results: dict[str, Any]) -> list[dict[str, str]]:
    """What went wrong, each said in English (`what`, as earlier reports' data has it) and
    in Chinese (`what_zh`): the report is read in either."""
    problems = []
    if run["status"] != "succeeded":
        detail = run["detail"] or ""
        problems.append(
            {
                "what": f"run ended {run['status']}: {detail}".strip(),
                "what_zh": f"运行结束，状态：{status_word(run['status'], 'zh')}："
                f"{in_language(detail, 'zh')}".rstrip("："),
                "kind": "run",
            }
        )
    for step in run["steps"]:
        if step["status"] == "failed":
            problems.append(
                {
                    "what": f"step {step['id']} failed: {step['error']}",
                    "what_zh": f"步骤 {step['id']} 失败：{_error_zh(step)}",
                    "kind": "step",
                }
            )
        elif step["attempts"] > 1:
            problems.append(
                {
                    "what": f"step {step['id']} needed {step['attempts']} attempts",
                    "what_zh": f"步骤 {step['id']} 共执行 {step['attempts']} 次才完成",
                    "kind": "retry",
                }
            )
    for name in ("rto", "rpo"):
        own = results[f"runbook_{name}"]
        if own and own["met"] is False:
            problems.append(
                {
                    "what": f"{name.upper()} target not met",
                    "what_zh": f"{name.upper()} 未达目标",
                    "kind": "target",
                }
            )
        seen = results[f"lab_{name}"]
        if own and seen and seen["seconds"] is not None and seen["seconds"] > own["seconds"]:
            problems.append(
                {
                    "what": f"the lab observed a longer {name.upper()} ({seen['seconds']}s) "
                    f"than the runbook measured ({own['seconds']}s)",
                    "what_zh": f"实验室观测到的 {name.upper()}（{seen['seconds']} 秒）"
                    f"长于预案测得的（{own['seconds']} 秒）",
                    "kind": "measurement",
                }
            )
    return problems


def _error_zh(step: dict[str, Any]) -> str:
    """A failed step's error as the engine kept it in Chinese (`error_zh` in its result,
    or in its first failed host's), else the journal's English."""
    rows = [step, *[h for h in step.get("hosts") or [] if h.get("error")]]
    for row in rows:
        result = row.get("result")
        if isinstance(result, dict) and result.get("error_zh"):
            return str(result["error_zh"])
    return str(step["error"])


# ---- layout ---------------------------------------------------------------------------

_ACTIONS = {
    "run": ("查明中止原因，修正后重新演练", "find why the run stopped, fix it, drill again"),
    "step": ("修正该步骤或其前提条件，并重新演练", "fix the step or its precondition, drill again"),
    "retry": ("查明需要重试的原因（超时、依赖未就绪）", "find why it needed retries"),
    "target": (
        "未达 RTO/RPO 目标：制定整改计划（NIST SP 800-34）并复演",
        "target not met: open an action plan (NIST SP 800-34) and drill again",
    ),
    "measurement": (
        "用户感受到的中断长于预案测得：核对预案开始计时的时间点（发现故障）与恢复确认条件",
        "users saw a longer outage than the runbook measured: check when its clock starts "
        "(detection) and its service-restored check",
    ),
}


def layout(data: dict[str, Any], lang: ReportLang) -> Document:
    run = data["run"]
    zone = zone_named(data.get("timezone"))
    doc = Document(
        title=pick(
            lang, f"演练总结报告：{run['runbook']}", f"Drill summary report: {run['runbook']}"
        ),
        subtitle=pick(lang, f"运行记录号 {run['id']}", f"Run {run['id']}"),
        verification=verification_paragraph(data["verification"], lang),
    )
    add = doc.blocks.append
    plan = data["plan"]
    add(Heading(pick(lang, "一、演练目的与总体方案", "1. Purpose and overall plan")))
    if plan:
        add(Facts(_plan_facts(plan, lang)))
    else:
        add(
            Paragraph(
                pick(
                    lang,
                    "年度演练计划中没有对应条目（未提供清单或不在计划内）。",
                    "No matching entry in the annual drill plan (no inventory given, "
                    "or the drill was not planned).",
                ),
                alert=True,
            )
        )
    add(Heading(pick(lang, "二、参加人员", "2. Participants")))
    add(Paragraph("、".join(data["participants"]) or "—"))
    add(Heading(pick(lang, "三、演练准备", "3. Preparation")))
    prep = data["preparation"]
    add(
        Facts(
            [
                (
                    pick(lang, "演练清单", "inventory"),
                    f"{prep['inventory']['name']} ({prep['inventory']['environment']}), "
                    f"sha256 {prep['inventory']['digest'][:16]}…",
                ),
                (
                    pick(lang, "参数", "parameters"),
                    ", ".join(f"{k}={v}" for k, v in sorted(prep["params"].items())) or "—",
                ),
                (
                    pick(lang, "开始 / 结束", "started / finished"),
                    f"{shown_time(run['started_at'], zone)} / "
                    f"{shown_time(run['finished_at'], zone) if run['finished_at'] else '—'}",
                ),
            ]
        )
    )
    add(Heading(pick(lang, "四、主要过程及关键时间点", "4. Main process and key timestamps")))
    add(timeline_table(data["timeline"], zone, lang))
    add(Heading(pick(lang, "五、演练结果", "5. Results")))
    add(Table(_result_columns(lang), _result_rows(data["results"], lang)))
    for said in (
        _rto_clock(data["results"]["runbook_rto"], zone, lang),
        _rpo_point(data["results"]["runbook_rpo"], zone, lang),
    ):
        if said is not None:
            add(Paragraph(said))
    chart = _chart(data["results"], lang)
    if chart is not None:
        add(chart)
    add(Heading(pick(lang, "六、发现的问题与改进措施", "6. Problems found and improvements")))
    if data["problems"]:
        add(
            Table(
                [pick(lang, "问题", "problem"), pick(lang, "改进措施", "improvement")],
                [
                    [
                        pick(lang, p.get("what_zh") or p["what"], p["what"]),
                        pick(lang, *_ACTIONS[p["kind"]]),
                    ]
                    for p in data["problems"]
                ],
            )
        )
    else:
        add(Paragraph(pick(lang, "未发现问题。", "No problems found.")))
    add(Heading(pick(lang, "七、结论", "7. Conclusion")))
    add(_conclusion(data, lang))
    return doc


def _plan_facts(plan: dict[str, Any], lang: ReportLang) -> list[tuple[str, str]]:
    return [
        (pick(lang, "计划时间", "planned for"), plan["when"]),
        (pick(lang, "目的", "purpose"), plan["purpose"]),
        (pick(lang, "依据", "basis"), plan["basis"]),
        (pick(lang, "负责人", "owner"), plan["owner"]),
        (pick(lang, "配合单位", "cooperating parties"), "、".join(plan["participants"]) or "—"),
        (
            pick(lang, "全面演练", "full-scope drill"),
            pick(lang, "是", "yes") if plan["full_scope"] else pick(lang, "否", "no"),
        ),
    ]


def _result_columns(lang: ReportLang) -> list[str]:
    return [
        pick(lang, "指标", "objective"),
        pick(lang, "预案测得", "runbook measured"),
        pick(lang, "目标", "target"),
        pick(lang, "结论", "verdict"),
        pick(lang, "实验室观测", "lab observed"),
    ]


def _result_rows(results: dict[str, Any], lang: ReportLang) -> list[list[str]]:
    rows = []
    for name in ("rto", "rpo"):
        own, seen = results[f"runbook_{name}"], results[f"lab_{name}"]
        if own is None and seen is None:
            continue
        rows.append(
            [
                name.upper(),
                seconds_text(own["seconds"]) if own else "—",
                seconds_text(own["target_seconds"]) if own else "—",
                verdict_text(lang, own["met"]) if own else "—",
                seconds_text(seen["seconds"]) if seen else "—",
            ]
        )
    return rows


def _rto_clock(rto: dict[str, Any] | None, zone: tzinfo, lang: ReportLang) -> str | None:
    """Where the runbook's RTO clock started and stopped, and by whose word."""
    detail = (rto or {}).get("detail") or {}
    if not detail.get("lost_at") or not detail.get("restored_at"):
        return None
    lost = shown_time(detail["lost_at"], zone, millis=True)
    restored = shown_time(detail["restored_at"], zone, millis=True)
    suffix = "_zh" if lang == "zh" else ""
    started = detail.get(f"lost_at_source{suffix}") or detail.get("lost_at_source", "")
    stopped = detail.get(f"restored_at_source{suffix}") or detail.get("restored_at_source", "")
    return pick(
        lang,
        f"RTO 计时：自 {lost}（{started}）至 {restored}（{stopped}）。",
        f"RTO clock: from {lost} ({started}) to {restored} ({stopped}).",
    )


def _rpo_point(rpo: dict[str, Any] | None, zone: tzinfo, lang: ReportLang) -> str | None:
    """The newest data that survived, and where the runbook read it."""
    detail = (rpo or {}).get("detail") or {}
    if not detail.get("last_data_point"):
        return None
    point = shown_time(detail["last_data_point"], zone, millis=True)
    suffix = "_zh" if lang == "zh" else ""
    source = detail.get(f"data_point_source{suffix}") or detail.get("data_point_source") or "—"
    return pick(
        lang,
        f"RPO 数据点：{point}（{source}）。",
        f"RPO data point: {point} ({source}).",
    )


def _chart(results: dict[str, Any], lang: ReportLang) -> Chart | None:
    names = [n for n in ("rto", "rpo") if results[f"runbook_{n}"] or results[f"lab_{n}"]]
    if not names:
        return None

    def values(source: str) -> list[float | None]:
        return [(results[f"{source}_{n}"] or {}).get("seconds") for n in names]

    series = [Series(pick(lang, "预案测得", "runbook"), values("runbook"))]
    if any(results[f"lab_{n}"] for n in names):
        series.append(Series(pick(lang, "实验室观测", "lab observed"), values("lab")))
    targets = [(results[f"runbook_{n}"] or {}).get("target_seconds") for n in names]
    series.append(Series(pick(lang, "目标", "target"), targets))
    return Chart(
        title=pick(lang, "RTO/RPO 达成值与目标（秒）", "RTO/RPO achieved and target (seconds)"),
        x_labels=[n.upper() for n in names],
        series=series,
        y_label=pick(lang, "秒", "seconds"),
    )


def _conclusion(data: dict[str, Any], lang: ReportLang) -> Paragraph:
    ok = data["run"]["status"] == "succeeded" and not any(
        p["kind"] in ("run", "step", "target") for p in data["problems"]
    )
    if ok:
        return Paragraph(
            pick(
                lang,
                "演练成功：预案按步骤完成，恢复目标达成。",
                "The drill succeeded: the runbook completed and met its targets.",
            )
        )
    return Paragraph(
        pick(
            lang,
            "演练未完全成功：见上述问题，整改后须重新演练。",
            "The drill did not fully succeed: fix the problems above and drill again.",
        ),
        alert=True,
    )
