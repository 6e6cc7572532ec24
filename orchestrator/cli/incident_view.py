"""Rendering incidents for a person (tables) or a program (JSON)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestrator.calendar import calendar_for
from orchestrator.cli.summary import zone_at
from orchestrator.cli.tables import folding_table, print_table
from orchestrator.incidents import Incident, IncidentStore
from orchestrator.incidents.clocks import reentry_status
from orchestrator.incidents.deadlines import open_deadlines
from orchestrator.incidents.messages import local_text
from orchestrator.inventory.models import Inventory
from orchestrator.shown_times import shown_time

LEVEL_COLOURS = {"blue": "blue", "yellow": "yellow", "orange": "dark_orange", "red": "red"}


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


def print_list(console: Console, incidents: list[Incident]) -> None:
    """Times in the zone of each incident's inventory (the default zone where that file is
    not on this machine); the id, typed next, never cut."""
    table = folding_table(
        "id", "category", "level", "grade", "status", "started", "summary",
        widest=[i.id for i in incidents],
    )  # fmt: skip
    for i in incidents:
        colour = LEVEL_COLOURS.get(i.level, "white")
        table.add_row(
            i.id,
            i.category,
            f"[{colour}]{i.level}[/]",
            i.grade or "-",
            i.status,
            shown_time(i.started_at, zone_at(i.inventory_path or "")),
            escape(i.summary),
        )
    print_table(console, table)


def print_incident(console: Console, doc: dict[str, Any], zone: tzinfo) -> None:
    colour = LEVEL_COLOURS.get(doc["level"], "white")
    console.print(
        f"incident [cyan]{doc['id']}[/]  {doc['category']}  level=[{colour}]{doc['level']}[/]  "
        f"grade={doc['grade'] or '-'}  {doc['status']}"
    )
    console.print(
        f"{escape(doc['summary'])}  (began {shown_time(doc['started_at'], zone)}, "
        f"by {escape(doc['opened_by'])})"
    )
    if doc["deadlines"]:
        table = folding_table("deadline", "due", "owed by", "", "record with")
        for d in doc["deadlines"]:
            table.add_row(
                d["key"],
                shown_time(d["due"], zone),
                escape(", ".join(d["owed_by"]) or "-"),
                "[red]overdue[/]" if d["overdue"] else "",
                escape(d["mark"]),
            )
        print_table(console, table)
        for d in doc["deadlines"]:
            if d["note"]:
                console.print(f"[yellow]{d['key']}: {escape(d['note']['en'])}[/]")
    if doc["reentry"]:
        table = folding_table("branch (re-entry 补录)", "important data", "all data")
        for branch, parts in doc["reentry"].items():
            table.add_row(
                escape(branch),
                parts["important"] or "[yellow]outstanding[/]",
                parts["all"] or "[yellow]outstanding[/]",
            )
        print_table(console, table)
    for run in doc["runs"]:  # the run id, typed next, is printed whole on its own line
        console.print(f"run {run['id']}  {escape(run['runbook'])}  {run['status']}")
    table = folding_table("notice", "status", "due")
    for n in doc["notices"]:
        table.add_row(escape(n["key"]), n["status"], shown_time(n["due_at"], zone))
    print_table(console, table)
    table = folding_table("effective", "event", "by", "detail", whole=0)
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
