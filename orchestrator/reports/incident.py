"""`dr report incident ID`: the regulator's written report (CBRC 2008 contents) and the
post-incident evaluation, from the incident's journal record.

Times, level, grade, outage, runs, deadlines and notices come from the journal. The
narrative (cause analysis, next steps, who reports) is what people write: it comes from
a `--details` YAML file, and every field not written there is shown as still to complete.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import UserInputError
from orchestrator.incidents import IncidentStore
from orchestrator.incidents.deadlines import open_deadlines
from orchestrator.incidents.handling import incident_inventory
from orchestrator.incidents.messages import local_text
from orchestrator.incidents.records import Incident
from orchestrator.inventory.models import Inventory
from orchestrator.journal import Journal
from orchestrator.journal.chained_rows import verified_measurements
from orchestrator.reports.blocks import Document, Facts, Heading, Paragraph
from orchestrator.reports.i18n import ReportLang, pick, seconds_text, verdict_text
from orchestrator.reports.occasions import figure
from orchestrator.reports.timeline import key_events, timeline_table
from orchestrator.reports.verification import verification_paragraph, verify_journal
from orchestrator.shown_times import shown_time, zone_named, zone_of

# Narrative fields a person writes: (zh, en) labels.
NARRATIVE = {
    "location": ("发生地点", "location"),
    "symptoms": ("事件现象", "symptoms"),
    "cause_analysis": ("原因分析", "cause analysis"),
    "next_steps": ("下一步工作安排", "proposed next steps"),
    "reporting_unit": ("报告单位", "reporting unit"),
    "contact": ("联系人及联系方式", "contact person and means"),
    "regulator_coordination": ("需监管部门协调的事项", "matters needing regulator coordination"),
    "losses": ("损失情况", "losses"),
    "plan_evaluation": ("应急预案执行评价", "how the plan worked"),
    "root_cause": ("根本原因", "root cause"),
    "actions": ("整改措施", "improvement actions"),
}


def load_details(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserInputError(f"cannot read --details {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise UserInputError(f"{path}{where}: not valid YAML ({err}); fix the file") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserInputError(f"{path}: must be a mapping of field: text, e.g. 'symptoms: …'")
    details = {}
    for key, value in loaded.items():
        if key not in NARRATIVE:
            raise UserInputError(
                f"{path}: unknown field {key!r}; the fields are {', '.join(NARRATIVE)}"
            )
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = "\n".join(value)
        if not isinstance(value, str | int | float):
            raise UserInputError(f"{path}: field {key!r} must be text or a list of lines")
        details[key] = str(value)
    return details


def build(journal: Journal, incident_id: str, details: dict[str, str]) -> dict[str, Any]:
    store = IncidentStore(journal)
    try:
        incident = store.get(incident_id)  # IncidentNotFound: exit 2
        now = datetime.now(UTC)
        runs = [_run_summary(journal, r.id) for r in store.runs(incident_id)]
        notices = [n.to_dict() for n in store.notices(incident_id)]
        timeline = key_events(store.timeline(incident_id))
    finally:
        store.dispose()
    # What is still owed (the fault report, reporting days, re-entry) needs the rules of
    # the incident's inventory (its calendar, branches, zone): shown when it is here.
    inventory = incident_inventory(incident)
    owed = None if inventory is None else _owed_now(incident, inventory, now)
    for run in runs:
        timeline.extend(key_events(journal.events(run["id"])))
    timeline.sort(key=lambda e: e["seq"])
    return {
        "report": "incident",
        "generated_at": now.isoformat(timespec="seconds"),
        # The zone of the incident's inventory (the default zone when it is not here).
        "timezone": str(zone_of(inventory)),
        "verification": verify_journal(journal),
        "incident": incident.to_dict(),
        "outage_seconds": round(incident.outage_seconds(now), 3),
        "handling_seconds": round(
            ((incident.closed_at or now) - incident.started_at).total_seconds(), 3
        ),
        "runs": runs,
        "notices": notices,
        "timeline": timeline,
        "narrative": details,
        "narrative_missing": [k for k in NARRATIVE if k not in details],
        "deadlines_owed": owed,
    }


def _owed_now(incident: Incident, inventory: Inventory, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "key": d.key,
            "due": d.due.isoformat(),
            "due_local": local_text(d.due, inventory),
            "owed_by": list(d.owed_by),
            "what": {"zh": d.what[0], "en": d.what[1]},
            "note": {"zh": d.note[0], "en": d.note[1]} if d.note else None,
        }
        for d in open_deadlines(incident, inventory, now)
    ]


def _run_summary(journal: Journal, run_id: str) -> dict[str, Any]:
    run = journal.get_run(run_id)
    records = verified_measurements(journal, run_id)
    measured = {name: figure(records, name, "runbook") for name in ("rto_seconds", "rpo_seconds")}
    return {
        "id": run.id,
        "runbook": run.runbook,
        "mode": run.mode,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "measurements": {
            name: {"value": f["seconds"], "target": f["target_seconds"], "met": f["met"]}
            for name, f in measured.items()
            if f is not None
        },
    }


# ---- layout ---------------------------------------------------------------------------


def layout(data: dict[str, Any], lang: ReportLang) -> Document:
    inc = data["incident"]
    zone = zone_named(data.get("timezone"))
    doc = Document(
        title=pick(lang, "信息系统突发事件书面报告", "Written incident report to the regulator"),
        subtitle=pick(
            lang,
            f"事件编号 {inc['id']}（{inc['status']}）",
            f"Incident {inc['id']} ({inc['status']})",
        ),
        verification=verification_paragraph(data["verification"], lang),
    )
    add = doc.blocks.append
    if data["narrative_missing"]:
        names = ", ".join(pick(lang, *NARRATIVE[k]) for k in data["narrative_missing"])
        add(
            Paragraph(
                pick(
                    lang,
                    f"以下栏目尚待填写（--details）：{names}",
                    f"Still to be written (--details): {names}",
                ),
                alert=True,
            )
        )
    add(Heading(pick(lang, "一、书面报告", "1. Written report")))
    add(Facts(_report_fields(data, zone, lang)))
    add(Heading(pick(lang, "二、处置经过（取自日志）", "2. Timeline (from the journal)")))
    add(timeline_table(data["timeline"], zone, lang))
    add(Heading(pick(lang, "三、事后评估", "3. Post-incident evaluation")))
    add(Facts(_evaluation(data, zone, lang)))
    return doc


def _text(data: dict[str, Any], key: str, lang: ReportLang) -> str:
    return data["narrative"].get(key) or pick(lang, "（待填写）", "(to be completed)")


def _report_fields(data: dict[str, Any], zone: tzinfo, lang: ReportLang) -> list[tuple[str, str]]:
    inc, scope = data["incident"], data["incident"]["scope"]
    scope_text = pick(
        lang,
        f"停业省份 {scope['provinces']}；网点 {scope['branches_down'] or 0}/"
        f"{scope['branches_total'] or '?'} 中断；影响 {scope['impact'] or '未评定'}",
        f"provinces stopped {scope['provinces']}; branches down {scope['branches_down'] or 0}/"
        f"{scope['branches_total'] or '?'}; impact {scope['impact'] or 'not assessed'}",
    )
    assessment = pick(
        lang,
        f"事件等级 {inc['grade'] or '未达分级标准'}；预警级别 {inc['level']}（{inc['category']}）；"
        f"业务中断 {seconds_text(data['outage_seconds'])}",
        f"grade {inc['grade'] or 'below grade III'}; alert level {inc['level']} "
        f"({inc['category']}); business stopped {seconds_text(data['outage_seconds'])}",
    )
    return [
        (pick(lang, "发生时间", "time"), shown_time(inc["started_at"], zone)),
        (pick(lang, *NARRATIVE["location"]), _text(data, "location", lang)),
        (pick(lang, *NARRATIVE["symptoms"]), data["narrative"].get("symptoms") or inc["summary"]),
        (pick(lang, "影响业务范围", "affected business scope"), scope_text),
        (pick(lang, *NARRATIVE["cause_analysis"]), _text(data, "cause_analysis", lang)),
        (pick(lang, "初步评估", "preliminary assessment"), assessment),
        (pick(lang, "已采取的措施", "measures taken"), _measures(data, zone, lang)),
        (pick(lang, *NARRATIVE["next_steps"]), _text(data, "next_steps", lang)),
        (
            pick(lang, *NARRATIVE["reporting_unit"]),
            data["narrative"].get("reporting_unit") or inc["inventory_name"],
        ),
        (pick(lang, *NARRATIVE["contact"]), _text(data, "contact", lang)),
        (
            pick(lang, *NARRATIVE["regulator_coordination"]),
            _text(data, "regulator_coordination", lang),
        ),
    ]


def _measures(data: dict[str, Any], zone: tzinfo, lang: ReportLang) -> str:
    lines = []
    for run in data["runs"]:
        rto = run["measurements"].get("rto_seconds")
        figure = (
            f"; RTO {seconds_text(rto['value'])} {verdict_text(lang, rto['met'])}" if rto else ""
        )
        lines.append(
            f"{shown_time(run['started_at'], zone)} {run['runbook']} ({run['mode']}) "
            f"{run['status']}{figure} [{run['id']}]"
        )
    resolution = data["incident"]["resolution"]
    if resolution:
        lines.append(pick(lang, f"处置结果：{resolution}", f"resolution: {resolution}"))
    return "\n".join(lines) or pick(
        lang, "日志中没有处置运行记录", "no handling run in the journal"
    )


def _owed(data: dict[str, Any], zone: tzinfo, lang: ReportLang) -> str:
    owed = data["deadlines_owed"]
    if owed is None:
        return pick(lang, "(事件清单不在本机,无法计算)", "(the incident's inventory is not here)")
    lines = []
    for d in owed:
        who = f" [{', '.join(d['owed_by'])}]" if d["owed_by"] else ""
        note = f" ({pick(lang, d['note']['zh'], d['note']['en'])})" if d["note"] else ""
        due = shown_time(d["due"], zone, seconds=False)
        lines.append(f"{due} {pick(lang, d['what']['zh'], d['what']['en'])}{who}{note}")
    return "\n".join(lines) or pick(lang, "无", "none")


def _evaluation(data: dict[str, Any], zone: tzinfo, lang: ReportLang) -> list[tuple[str, str]]:
    inc = data["incident"]
    met = inc["deadlines_met"]
    deadlines = "; ".join(f"{k} {shown_time(v, zone)}" for k, v in sorted(met.items())) or pick(
        lang, "无记录", "none recorded"
    )
    return [
        (
            pick(lang, "事件经过", "what happened"),
            pick(
                lang,
                f"{inc['summary']}；处置历时 {seconds_text(data['handling_seconds'])}",
                f"{inc['summary']}; handled over {seconds_text(data['handling_seconds'])}",
            ),
        ),
        (pick(lang, *NARRATIVE["losses"]), _text(data, "losses", lang)),
        (pick(lang, "按时完成的报告与到场", "deadlines met"), deadlines),
        (pick(lang, "尚未完成的时限", "deadlines still owed"), _owed(data, zone, lang)),
        (pick(lang, *NARRATIVE["plan_evaluation"]), _text(data, "plan_evaluation", lang)),
        (pick(lang, *NARRATIVE["root_cause"]), _text(data, "root_cause", lang)),
        (pick(lang, *NARRATIVE["actions"]), _text(data, "actions", lang)),
    ]
