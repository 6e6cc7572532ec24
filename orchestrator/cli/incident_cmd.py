"""`dr incident open|update|close|list|show|tick`: parses the options, calls the use cases
of orchestrator.incidents (handling.py, tick.py) and renders what they return."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.incident_input import moment, reporting_days
from orchestrator.cli.incident_view import incident_document, print_incident, print_list
from orchestrator.cli.options import (
    DbOption,
    InventoryOption,
    JsonOption,
    LangOption,
    OperatorOption,
    language,
    open_existing_journal,
    open_journal,
    operator_name,
)
from orchestrator.errors import EXIT_FAILED
from orchestrator.identity import check_claim, incident_rights
from orchestrator.incidents import IncidentStore, handling
from orchestrator.incidents.checks import ScopeChange, one_of, operator_deadlines
from orchestrator.incidents.handling import Handled, IncidentUpdate
from orchestrator.incidents.records import Incident
from orchestrator.incidents.tick import tick
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import Inventory
from orchestrator.journal import Journal
from orchestrator.shown_times import zone_of

app = typer.Typer(
    help="Incidents: alert levels, grades, deadlines and notifications (事件与预警).",
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(help="The incident id (see `dr incident list`).")]
ProvincesOpt = Annotated[
    int | None, typer.Option("--provinces", help="Provinces whose business stopped.")
]
DownOpt = Annotated[int | None, typer.Option("--branches-down", help="Branches affected.")]
TotalOpt = Annotated[int | None, typer.Option("--branches-total", help="Branches in all.")]
ImpactOpt = Annotated[
    str | None,
    typer.Option("--impact", help="major-loss | serious-damage | considerable-damage."),
]


@app.command("open")
def open_incident(
    inventory: InventoryOption,
    category: Annotated[str, typer.Option("--category", help="network | equipment | system.")],
    summary: Annotated[str, typer.Option("--summary", help="What is wrong, in one line.")],
    level: Annotated[str, typer.Option("--level", help="blue | yellow | orange | red.")] = "blue",
    started_at: Annotated[
        str | None,
        typer.Option(
            "--started-at", help="When it began (ISO; local time if no zone).", show_default=False
        ),
    ] = None,
    no_outage: Annotated[
        bool, typer.Option("--no-outage", help="Business is not stopped (grade clock off).")
    ] = False,
    provinces: ProvincesOpt = None,
    branches_down: DownOpt = None,
    branches_total: TotalOpt = None,
    impact: ImpactOpt = None,
    db: DbOption = None,
    operator: OperatorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Declare an incident; the level's roster is notified at once."""
    inv = load_inventory(inventory)
    journal = open_journal(db, inv.journal.key)
    handled = handling.open_incident(
        journal,
        inv,
        category=category,
        level=level,
        summary=summary,
        actor=operator_name(operator, inv),
        scope=ScopeChange(provinces, branches_down, branches_total, impact),
        started_at=moment("--started-at", started_at, inv.timezone),
        business_stopped=not no_outage,
    )
    _print_handled(journal, handled, json_out)
    _exit_if_unsent(handled)


@app.command("update")
def update_incident(
    incident_id: IdArg,
    summary: Annotated[str | None, typer.Option("--summary", help="A new summary.")] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="Set the level (may lower it; recorded).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the level changed.")] = "",
    on_site: Annotated[
        list[str] | None, typer.Option("--on-site", help="Contact now on site (repeatable).")
    ] = None,
    done: Annotated[
        list[str] | None,
        typer.Option(
            "--done",
            help="Deadline met: regulator-initial | written-report | immediate-report | "
            "fault-report | credit-submission-YYYY-MM-DD | reentry-important | reentry-all.",
        ),
    ] = None,
    progress: Annotated[
        str | None, typer.Option("--progress", help="A progress report (grade I: every 2 h).")
    ] = None,
    restored: Annotated[
        bool, typer.Option("--business-restored", help="Business runs again (outage ends).")
    ] = False,
    note: Annotated[str | None, typer.Option("--note", help="A remark for the record.")] = None,
    provinces: ProvincesOpt = None,
    branches_down: DownOpt = None,
    branches_total: TotalOpt = None,
    impact: ImpactOpt = None,
    reporting_day: Annotated[
        list[str] | None,
        typer.Option(
            "--reporting-day",
            help="A local business day (YYYY-MM-DD) whose credit submission is at risk "
            "(repeatable): owed by the end of the next working day.",
        ),
    ] = None,
    branch: Annotated[
        list[str] | None,
        typer.Option("--branch", help="A branch site the incident affects (repeatable)."),
    ] = None,
    reentered: Annotated[
        list[str] | None,
        typer.Option(
            "--reentered", help="A branch confirms its re-entry (补录) is done (repeatable)."
        ),
    ] = None,
    important_only: Annotated[
        bool,
        typer.Option("--important-only", help="With --reentered: the important data only."),
    ] = False,
    db: DbOption = None,
    operator: OperatorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Change an incident: level, scope, who is on site, deadlines met, progress; once
    closed, what it still owes (--done, --reporting-day, --branch, --reentered)."""
    change = IncidentUpdate(
        summary=summary,
        level=level,
        reason=reason,
        scope=ScopeChange(provinces, branches_down, branches_total, impact),
        on_site=tuple(on_site or ()),
        deadlines_met=tuple(done or ()),
        progress=progress,
        business_restored=restored,
        note=note,
        reporting_days=reporting_days(reporting_day),
        branches=tuple(branch or ()),
        reentered=tuple(reentered or ()),
        important_only=important_only,
    )
    operator_deadlines(change.deadlines_met)  # a wrong key is said before anything else
    journal = open_journal(db)
    actor = _actor_for(journal, incident_id, operator, level, change)
    handled = handling.update_incident(journal, incident_id, change, actor=actor)
    _print_handled(journal, handled, json_out)


@app.command("close")
def close_incident(
    incident_id: IdArg,
    resolution: Annotated[str, typer.Option("--resolution", help="How it ended (recorded).")],
    db: DbOption = None,
    operator: OperatorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Declare the incident over; the roster is told."""
    journal = open_journal(db)
    actor = _actor_for(journal, incident_id, operator, None, None)
    handled = handling.close_incident(journal, incident_id, actor=actor, resolution=resolution)
    _print_handled(journal, handled, json_out)


def _actor_for(
    journal: Journal,
    incident_id: str,
    claimed: str | None,
    level: str | None,
    change: IncidentUpdate | None,
) -> str:
    """Who changes the incident: the terminal's person; lowering the level must be the
    leadership (identity/incident_rights.py). `change` None: closing it."""
    store = IncidentStore(journal)
    try:
        if change is None:
            incident = store.require_open(incident_id)
        else:
            incident = handling.require_changeable(store.get(incident_id), change)
    finally:
        store.dispose()
    inventory = handling.incident_inventory(incident)
    if incident_rights.lowering(incident, level):
        assert level is not None
        person = incident_rights.person_who_may_lower(incident, inventory, level)
        check_claim(claimed, person, option="--operator")
        check_claim(os.environ.get("DR_OPERATOR"), person, option="DR_OPERATOR")
        return person.contact
    return operator_name(claimed, inventory)


@app.command("list")
def list_incidents(
    status: Annotated[
        str | None, typer.Option("--status", help="open | closed (default: both).")
    ] = None,
    db: DbOption = None,
    lang: LangOption = None,
    json_out: JsonOption = False,
) -> None:
    """Incidents in the journal, newest first."""
    if status is not None:
        one_of("--status", status, ("open", "closed"))
    incidents = IncidentStore(open_existing_journal(db)).incidents(status=status)
    if json_out:
        print_json(console, {"incidents": [i.to_dict() for i in incidents]})
    else:
        print_list(console, incidents, language(lang))


@app.command("show")
def show_incident(
    incident_id: IdArg, db: DbOption = None, lang: LangOption = None, json_out: JsonOption = False
) -> None:
    """One incident: state, deadlines, runs, notices and its timeline."""
    journal = open_existing_journal(db)
    store = IncidentStore(journal)
    incident = store.get(incident_id)
    inventory = _inventory_of(incident)
    doc = incident_document(store, incident, inventory, datetime.now(UTC))
    if json_out:
        print_json(console, doc)
    else:
        print_incident(console, doc, zone_of(inventory), language(lang))


@app.command("tick")
def tick_incidents(
    inventory: InventoryOption, db: DbOption = None, json_out: JsonOption = False
) -> None:
    """Escalate by the time rules, remind of deadlines, send what is owed (idempotent)."""
    inv = load_inventory(inventory)
    report = tick(open_journal(db, inv.journal.key), inv, datetime.now(UTC))
    if json_out:
        print_json(console, report.to_dict())
        return
    for step in report.escalations:
        console.print(f"{step['incident']}: raised to {step['to']} ({step['cause']})")
    for delivery in report.deliveries:
        console.print(f"{escape(str(delivery['key']))}: {delivery['status']}")
        for error in delivery["errors"]:
            error_console.print(f"  [yellow]{escape(str(error))}[/]")
    if not (report.escalations or report.deliveries):
        console.print("nothing due")


def _print_handled(journal: Journal, handled: Handled, json_out: bool) -> None:
    """The incident after the change, and the notices the change sent."""
    current, report = handled.incident, handled.notices
    if handled.inventory is None:
        _say_inventory_missing(current)
    if json_out:
        now = datetime.now(UTC)
        doc = incident_document(IncidentStore(journal), current, handled.inventory, now)
        print_json(console, {**doc, "tick": report.to_dict()})
        return
    console.print(
        f"incident [cyan]{current.id}[/]  {current.category}  level=[bold]{current.level}[/]  "
        f"grade={current.grade or '-'}  {current.status}"
    )
    for delivery in report.deliveries:
        console.print(f"  notice {escape(str(delivery['key']))}: {delivery['status']}")
        for error in delivery["errors"]:
            error_console.print(f"    [yellow]{escape(str(error))}[/]")


def _exit_if_unsent(handled: Handled) -> None:
    """The incident is recorded either way; a roster that was not told must not look told.
    Exit 1 (EXIT_FAILED) when any notice reached none or only some of its recipients, so a
    script or a person sees it and tells them another way (a failed notice is not sent
    again by itself)."""
    unsent = [d for d in handled.notices.deliveries if d["status"] != "delivered"]
    if not unsent:
        return
    keys = ", ".join(str(d["key"]) for d in unsent)
    error_console.print(
        f"[bold red]error:[/] incident {handled.incident.id} is recorded, but notice(s) {keys} "
        "did not reach everyone (see above): tell them another way (phone). "
        f"事件 {handled.incident.id} 已记录，但通知 {keys} 未能全部送达（见上）："
        "请以其他方式（电话）通知。",
        highlight=False,
    )
    raise typer.Exit(EXIT_FAILED)


def _inventory_of(incident: Incident) -> Inventory | None:
    inventory = handling.incident_inventory(incident)
    if inventory is None:
        _say_inventory_missing(incident)
    return inventory


def _say_inventory_missing(incident: Incident) -> None:
    error_console.print(
        f"[yellow]the inventory of {incident.id} ({incident.inventory_path}) is not here: "
        "no notifications sent from this machine[/]"
    )
