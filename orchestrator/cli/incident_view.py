"""Rendering incidents for a person (tables) or a program (JSON)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestrator.calendar import calendar_for
from orchestrator.cli.step_words import status_word
from orchestrator.cli.tables import folding_table, print_table
from orchestrator.incidents import Incident, IncidentStore
from orchestrator.incidents.clocks import reentry_status
from orchestrator.incidents.deadlines import open_deadlines
from orchestrator.incidents.messages import local_text
from orchestrator.inventory.models import Inventory
from orchestrator.shown_times import shown_time, zone_at
from orchestrator.text import Lang, Text

LEVEL_COLOURS = {"blue": "blue", "yellow": "yellow", "orange": "dark_orange", "red": "red"}

# What the tables say, in the operator's language (`--lang`, else DR_LANG / the locale).
_WORDS: dict[str, Text] = {
    "id": Text("事件编号", "id"),
    "category": Text("类别", "category"),
    "level": Text("预警级别", "level"),
    "grade": Text("事件等级", "grade"),
    "status": Text("状态", "status"),
    "started": Text("开始时间", "started"),
    "summary": Text("摘要", "summary"),
    "incident": Text("事件", "incident"),
    "began": Text("开始于", "began"),
    "by": Text("登记人", "by"),
    "deadline": Text("时限", "deadline"),
    "due": Text("截止时间", "due"),
    "owed by": Text("责任方", "owed by"),
    "record with": Text("完成后登记", "record with"),
    "overdue": Text("已逾期", "overdue"),
    "branch": Text("网点（补录）", "branch (re-entry 补录)"),
    "important data": Text("重要数据", "important data"),
    "all data": Text("全部数据", "all data"),
    "outstanding": Text("未完成", "outstanding"),
    "run": Text("运行", "run"),
    "notice": Text("通知", "notice"),
    "effective": Text("生效时间", "effective"),
    "event": Text("事项", "event"),
    "actor": Text("操作人", "by"),
    "detail": Text("说明", "detail"),
    # values
    "open": Text("处理中", "open"),
    "closed": Text("已关闭", "closed"),
    "network": Text("网络", "network"),
    "equipment": Text("设备", "equipment"),
    "system": Text("系统", "system"),
    "blue": Text("蓝色", "blue"),
    "yellow": Text("黄色", "yellow"),
    "orange": Text("橙色", "orange"),
    "red": Text("红色", "red"),
    "pending": Text("待发送", "pending"),
    "sending": Text("发送中", "sending"),
    "delivered": Text("已送达", "delivered"),
    "partial": Text("部分送达", "partial"),
    "failed": Text("发送失败", "failed"),
}


def _say(word: str, lang: Lang) -> str:
    """A heading or a known value in `lang`; anything else as it is."""
    known = _WORDS.get(word)
    return known(lang) if known is not None else word


def _headings(lang: Lang, *words: str) -> list[str]:
    return [_say(word, lang) if word else "" for word in words]


def incident_document(
    store: IncidentStore, incident: Incident, inventory: Inventory | None, now: datetime
) -> dict[str, Any]:
    deadlines = open_deadlines(incident, inventory, now) if inventory is not None else []
    calendar = calendar_for(inventory) if inventory is not None else None
    return {
        **incident.to_dict(),
        "outage_seconds": round(incident.outage_seconds(now)),
        "deadlines": [
            {
                "key": d.key,
                "due": d.due.isoformat(),
                # In the inventory's zone, labelled: what the branches' clocks say.
                "due_local": local_text(d.due, inventory) if inventory is not None else None,
                "overdue": now >= d.due,
                "owed_by": list(d.owed_by),
                "what": {"zh": d.what[0], "en": d.what[1]},
                "mark": d.mark,
                "note": {"zh": d.note[0], "en": d.note[1]} if d.note else None,
            }
            for d in deadlines
        ],
        "reentry": reentry_status(incident, inventory) if inventory is not None else {},
        "calendar": (
            {
                "file": str(calendar.file),
                "version": calendar.version,
                "years": sorted(calendar.years),
            }
            if calendar is not None
            else None
        ),
        "runs": [
            {"id": r.id, "runbook": r.runbook, "status": r.status} for r in store.runs(incident.id)
        ],
        "notices": [n.to_dict() for n in store.notices(incident.id)],
        "timeline": [
            {"seq": e.seq, "at": e.at, "kind": e.kind, "actor": e.actor, "data": e.data}
            for e in store.timeline(incident.id)
        ],
    }


def print_list(console: Console, incidents: list[Incident], lang: Lang = "en") -> None:
    """Times in the zone of each incident's inventory (the default zone where that file is
    not on this machine); the id, typed next, never cut."""
    table = folding_table(
        *_headings(lang, "id", "category", "level", "grade", "status", "started", "summary"),
        widest=[i.id for i in incidents],
    )
    for i in incidents:
        colour = LEVEL_COLOURS.get(i.level, "white")
        table.add_row(
            i.id,
            _say(i.category, lang),
            f"[{colour}]{_say(i.level, lang)}[/]",
            i.grade or "-",
            _say(i.status, lang),
            shown_time(i.started_at, zone_at(i.inventory_path or "")),
            escape(i.summary),
        )
    print_table(console, table)


def print_incident(console: Console, doc: dict[str, Any], zone: tzinfo, lang: Lang = "en") -> None:
    colour = LEVEL_COLOURS.get(doc["level"], "white")
    level, grade = _say("level", lang), _say("grade", lang)
    console.print(
        f"{_say('incident', lang)} [cyan]{doc['id']}[/]  {_say(doc['category'], lang)}  "
        f"{level}=[{colour}]{_say(doc['level'], lang)}[/]  "
        f"{grade}={doc['grade'] or '-'}  {_say(doc['status'], lang)}"
    )
    began = shown_time(doc["started_at"], zone)
    by = escape(doc["opened_by"])
    if lang == "zh":
        console.print(f"{escape(doc['summary'])}（开始于 {began}，登记人 {by}）")
    else:
        console.print(f"{escape(doc['summary'])}  (began {began}, by {by})")
    if doc["deadlines"]:
        table = folding_table(*_headings(lang, "deadline", "due", "owed by", "", "record with"))
        for d in doc["deadlines"]:
            table.add_row(
                d["key"],
                shown_time(d["due"], zone),
                escape(", ".join(d["owed_by"]) or "-"),
                f"[red]{_say('overdue', lang)}[/]" if d["overdue"] else "",
                escape(d["mark"]),
            )
        print_table(console, table)
        for d in doc["deadlines"]:
            if d["note"]:
                console.print(f"[yellow]{d['key']}: {escape(d['note'][lang])}[/]")
    if doc["reentry"]:
        table = folding_table(*_headings(lang, "branch", "important data", "all data"))
        outstanding = f"[yellow]{_say('outstanding', lang)}[/]"
        for branch, parts in doc["reentry"].items():
            table.add_row(
                escape(branch), parts["important"] or outstanding, parts["all"] or outstanding
            )
        print_table(console, table)
    for run in doc["runs"]:  # the run id, typed next, is printed whole on its own line
        console.print(
            f"{_say('run', lang)} {run['id']}  {escape(run['runbook'])}  "
            f"{status_word(run['status'], lang)}"
        )
    table = folding_table(*_headings(lang, "notice", "status", "due"))
    for n in doc["notices"]:
        table.add_row(escape(n["key"]), _say(n["status"], lang), shown_time(n["due_at"], zone))
    print_table(console, table)
    table = folding_table(*_headings(lang, "effective", "event", "actor", "detail"), whole=0)
    for event in doc["timeline"]:
        data = event["data"]
        table.add_row(
            shown_time(data.get("at") or event["at"], zone),
            event["kind"],
            escape(event["actor"] or "-"),
            escape(_detail(event["kind"], data)),
        )
    print_table(console, table)


def _detail(kind: str, data: dict[str, Any]) -> str:
    """One line per event kind: what an operator scanning the timeline needs."""
    if kind in ("incident.level_changed", "incident.grade_changed"):
        return f"{data.get('from')} -> {data.get('to')} ({data.get('cause', 'assessed')})"
    if kind.startswith("notification."):
        return f"{data.get('channel')} {data.get('recipient')} {data.get('error') or ''}".strip()
    if kind == "alert_level":
        return f"{data.get('level')}/{data.get('category')} (run)"
    if kind == "incident.alert":  # orchestrator/alerts/intake.py
        return f"{data.get('source')} {data.get('status')} {data.get('alert_key')}"
    if kind == "incident.reporting_days_added":
        branches = ", ".join(data.get("branches") or [])
        return f"{', '.join(data.get('days') or [])} ({data.get('source')}) {branches}".strip()
    if kind == "incident.reentered":
        return f"{data.get('branch')}: {', '.join(data.get('parts') or [])}"
    if kind == "incident.branches_added":
        return ", ".join(data.get("branches") or [])
    if kind == "incident.immediate_report_due":
        return str(data.get("cause"))
    for key in ("summary", "resolution", "text", "contact", "deadline", "key", "note"):
        if data.get(key):
            return str(data[key])
    return ""
