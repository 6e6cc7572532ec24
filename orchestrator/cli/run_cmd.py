"""`dr plan`, `dr drill`, `dr run`, `dr resume`, `dr approve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import console, error_console
from orchestrator.cli.live_view import LiveView, TerminalOperator
from orchestrator.cli.options import (
    DbOption,
    InventoryOption,
    JsonOption,
    LangOption,
    OperatorOption,
    ParamOption,
    RunbooksOption,
    language,
    open_journal,
    open_registry,
    operator_name,
    parse_params,
)
from orchestrator.cli.summary import print_json, print_run
from orchestrator.engine import Engine, RunOptions, RunOutcome, approvals
from orchestrator.engine.engine import preflight_targets
from orchestrator.engine.modes import check_mode
from orchestrator.engine.plan import flatten, resolve_params
from orchestrator.engine.record import run_document
from orchestrator.incidents import IncidentStore
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal

RunbookArg = Annotated[str, typer.Argument(help="Runbook name (see `dr runbook list`).")]


def plan(
    name: RunbookArg,
    inventory: InventoryOption,
    param: ParamOption = None,
    runbooks: RunbooksOption = None,
    lang: LangOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show what a runbook would do, target by target. Touches nothing."""
    inv = load_inventory(inventory)
    registry = open_registry(runbooks)
    runbook = registry.get(name)
    steps = flatten(runbook, registry, resolve_params(runbook, parse_params(param)))
    preflight_targets(steps, inv)
    lang_code = language(lang)
    rows = []
    for planned in steps:
        step = planned.step
        hosts = (
            [h.name for h in inv.select_hosts(step.targets.format(**planned.params))]
            if step.targets
            else []
        )
        rows.append(
            {
                "id": planned.path,
                "kind": str(step.kind),
                "title": step.title(lang_code),
                "hosts": hosts,
                "timeout_s": step.timeout,
                "retries": step.retries,
                "destructive": step.destructive,
                "conditional": bool(planned.conditions),
                "verify": step.verify_fn is not None,
                "rollback": step.rollback_fn is not None,
                "instructions": step.instructions(lang_code) if step.instructions else None,
            }
        )
    if json_out:
        print_json(console, {"runbook": runbook.name, "inventory": inv.name, "steps": rows})
        return
    console.print(
        f"[bold]{escape(runbook.title(lang_code))}[/] ({runbook.name}) on "
        f"{escape(inv.name)} [{inv.environment}]"
    )
    for number, row in enumerate(rows, 1):
        flags = [
            f
            for f, on in (
                ("destructive", row["destructive"]),
                ("if", row["conditional"]),
                ("verify", row["verify"]),
                ("rollback", row["rollback"]),
            )
            if on
        ]
        on = f" → {', '.join(row['hosts'])}" if row["hosts"] else ""
        console.print(
            f"{number:>3}. [bold]{escape(row['id'])}[/] \\[{row['kind']}] "
            f"{escape(row['title'])}{escape(on)}"
            + (f" [dim]({', '.join(flags)})[/]" if flags else "")
        )
        if row["instructions"]:
            console.print(f"       [dim]{escape(row['instructions'])}[/]")


def drill(
    name: RunbookArg,
    inventory: InventoryOption,
    auto_confirm: Annotated[
        bool,
        typer.Option(
            "--auto-confirm", help="Confirm manual steps and approvals automatically (drill only)."
        ),
    ] = False,
    param: ParamOption = None,
    db: DbOption = None,
    runbooks: RunbooksOption = None,
    lang: LangOption = None,
    operator: OperatorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Rehearse a runbook on a drill inventory (environment: drill)."""
    _start(
        name,
        inventory,
        "drill",
        auto_confirm=auto_confirm,
        reason=None,
        incident=None,
        param=param,
        db=db,
        runbooks=runbooks,
        lang=lang,
        operator=operator,
        json_out=json_out,
    )


def run(
    name: RunbookArg,
    inventory: InventoryOption,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why this live run is started (recorded).")
    ] = None,
    incident: Annotated[
        str | None, typer.Option("--incident", help="Incident id this run belongs to.")
    ] = None,
    param: ParamOption = None,
    db: DbOption = None,
    runbooks: RunbooksOption = None,
    lang: LangOption = None,
    operator: OperatorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Carry a runbook out for real on a production inventory."""
    _start(
        name,
        inventory,
        "live",
        auto_confirm=False,
        reason=reason,
        incident=incident,
        param=param,
        db=db,
        runbooks=runbooks,
        lang=lang,
        operator=operator,
        json_out=json_out,
    )


def resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish (see `dr runs list`).")],
    allow_changed: Annotated[
        bool,
        typer.Option(
            "--allow-changed", help="Resume even though the runbook or inventory changed."
        ),
    ] = False,
    db: DbOption = None,
    runbooks: RunbooksOption = None,
    lang: LangOption = None,
    operator: OperatorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Finish a run that stopped: completed steps are not repeated."""
    journal = open_journal(db)
    record = journal.get_run(run_id)
    lang_code = language(lang or record.options.get("lang"))
    options = RunOptions(
        mode=record.mode,
        operator=operator_name(operator),
        lang=lang_code,
        auto_confirm=bool(record.options.get("auto_confirm")),
        reason=record.reason,
        incident_id=record.incident_id,
    )
    engine = _engine(journal, runbooks, lang_code)
    outcome = engine.resume(
        run_id, load_inventory(Path(record.inventory_path)), options, allow_changed=allow_changed
    )
    _report(journal, outcome, json_out)


def approve(
    run_id: Annotated[str, typer.Argument(help="The run waiting for approval.")],
    step: Annotated[str, typer.Argument(help="The approval step's id.")],
    approver: Annotated[
        str,
        typer.Option(
            "--as", help="Your name as in the inventory's contacts (must hold the step's role)."
        ),
    ],
    note: Annotated[str, typer.Option("--note", help="A remark for the record.")] = "",
    db: DbOption = None,
) -> None:
    """Approve a waiting approval step (by someone other than the run's starter)."""
    journal = open_journal(db)
    record = journal.get_run(run_id)
    approvals.approve(
        journal, load_inventory(Path(record.inventory_path)), run_id, step, approver, note
    )
    console.print(
        f"approved step {escape(step)} of run {run_id} as {escape(approver)}; "
        f"the run continues with `dr resume {run_id}`"
    )


def _start(
    name: str,
    inventory: Path,
    mode: str,
    *,
    auto_confirm: bool,
    reason: str | None,
    incident: str | None,
    param: list[str] | None,
    db: str | None,
    runbooks: list[Path] | None,
    lang: str | None,
    operator: str | None,
    json_out: bool,
) -> None:
    inv = load_inventory(inventory)
    # Refuse a wrong mode before opening anything else, so the refusal is the only message.
    check_mode(
        mode,
        environment=inv.environment,
        inventory_name=inv.name,  # type: ignore[arg-type]
        auto_confirm=auto_confirm,
        reason=reason,
        incident_id=incident,
    )
    lang_code = language(lang)
    options = RunOptions(
        mode=mode,
        operator=operator_name(operator),
        lang=lang_code,
        auto_confirm=auto_confirm,
        reason=reason,
        incident_id=incident,
        params=parse_params(param),
    )
    journal = open_journal(db)
    if incident is not None:
        # A run joins an incident only while it is open: its alert levels raise that
        # incident's level, and its approvals follow the incident's roster.
        IncidentStore(journal).require_open(incident)
    outcome = _engine(journal, runbooks, lang_code).start(name, inv, options)
    _report(journal, outcome, json_out)


def _engine(journal: Journal, runbooks: list[Path] | None, lang: str) -> Engine:
    return Engine(
        journal,
        open_registry(runbooks),
        observer=LiveView(error_console),
        operator_io=TerminalOperator(error_console, lang),
    )


def _report(journal: Journal, outcome: RunOutcome, json_out: bool) -> None:
    doc = run_document(journal, outcome.run_id)
    if json_out:
        print_json(console, doc)
    else:
        print_run(console, doc)
    colour = (
        "green" if outcome.exit_code == 0 else "yellow" if outcome.exit_code in (3, 4) else "red"
    )
    error_console.print(f"[{colour}]{escape(outcome.message)}[/]  run id: {outcome.run_id}")
    raise typer.Exit(outcome.exit_code)
