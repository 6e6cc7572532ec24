"""`dr plan`, `dr drill`, `dr run`, `dr resume`, `dr approve`."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from orchestrator.cli.acting import acting_person
from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.live_view import LiveView, TerminalOperator
from orchestrator.cli.options import (
    DbOption,
    InventoryOption,
    JsonOption,
    LangOption,
    OperatorOption,
    ParamOption,
    RunbookArg,
    RunbooksOption,
    language,
    open_journal,
    open_registry,
    parse_params,
)
from orchestrator.cli.plan_view import print_plan
from orchestrator.cli.summary import print_run
from orchestrator.engine import Engine, RunOptions, RunOutcome, approvals
from orchestrator.engine.admission import admit_run
from orchestrator.engine.plan import make_plan
from orchestrator.errors import EXIT_OK, EXIT_STOPPED, EXIT_WAITING, PlanRefused
from orchestrator.identity import check_claim, one_time, shown_name
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.journal.run_document import run_document
from orchestrator.shown_times import zone_of
from orchestrator.text import Lang

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.journal.records import RunRecord


def plan(
    name: RunbookArg,
    inventory: InventoryOption,
    param: ParamOption = None,
    runbooks: RunbooksOption = None,
    lang: LangOption = None,
    json_out: JsonOption = False,
) -> None:
    """Show what a runbook would do, step by step: the hosts, switch ports, UPS and
    generator each step reaches and the exact commands it sends. Touches nothing.
    Exits 2, listing each problem as FILE:LINE, when a parameter names nothing in the
    inventory or the inventory lacks what a step needs."""
    inv = load_inventory(inventory)
    registry = open_registry(runbooks)
    runbook = registry.get(name)
    lang_code = language(lang)
    result = make_plan(runbook, registry, parse_params(param), inv, lang_code)
    if json_out:
        doc = {
            "runbook": runbook.name,
            "inventory": inv.name,
            "steps": [r.to_dict() for r in result.rows],
            "problems": [str(p) for p in result.problems],
        }
        print_json(console, doc)
    elif result.rows:
        print_plan(console, runbook.title(lang_code), runbook.name, inv, result.rows, lang_code)
    if result.problems:
        raise PlanRefused(result.problems)


# A drill can belong to an incident too: an exercise of the whole incident procedure, whose
# declared outage start is then when the run's RTO and RPO clocks start.
IncidentOption = Annotated[
    str | None,
    typer.Option(
        "--incident", help="Incident id this run belongs to (its outage start starts RTO)."
    ),
]


def drill(
    name: RunbookArg,
    inventory: InventoryOption,
    auto_confirm: Annotated[
        bool,
        typer.Option(
            "--auto-confirm", help="Confirm manual steps and approvals automatically (drill only)."
        ),
    ] = False,
    incident: IncidentOption = None,
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
        incident=incident,
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
    incident: IncidentOption = None,
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
    journal, record, inv = _run_and_its_inventory(db, run_id)
    lang_code = language(lang or record.options.get("lang"))
    person = acting_person(inv, operator, mapped=record.mode == "live")
    options = RunOptions(
        mode=record.mode,
        operator=shown_name(person),
        person=person,
        lang=lang_code,
        auto_confirm=bool(record.options.get("auto_confirm")),
        reason=record.reason,
        incident_id=record.incident_id,
    )
    engine = _engine(journal, runbooks, lang_code, zone_of(inv))
    outcome = engine.resume(run_id, inv, options, allow_changed=allow_changed)
    _report(journal, outcome, json_out, lang_code, zone_of(inv))


def approve(
    run_id: Annotated[str, typer.Argument(help="The run waiting for approval.")],
    step: Annotated[str, typer.Argument(help="The approval step's id.")],
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            help="The one-time code sent to you (approve from any terminal). Without it, "
            "you approve as the contact your OS account maps to (contacts[].login).",
            show_default=False,
        ),
    ] = None,
    claimed: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Optional check: your own contact name. Naming someone else is refused.",
            show_default=False,
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A remark for the record.")] = "",
    db: DbOption = None,
) -> None:
    """Approve a waiting approval step (by someone on its roster, not the run's starter)."""
    journal, _, inv = _run_and_its_inventory(db, run_id)
    if code is not None:
        # Every check first: a code is spent only on an approval that will be recorded.
        person = one_time.check(journal, code, run_id=run_id, step_path=step)
        check_claim(claimed, person, option="--as")
        approvals.check_may_approve(journal, inv, run_id, step, person)
        person = one_time.redeem(journal, code, run_id=run_id, step_path=step)
    else:
        person = acting_person(inv, None, mapped=True)
        check_claim(claimed, person, option="--as")
    approvals.approve(journal, inv, run_id, step, person, note)
    console.print(
        f"approved step {escape(step)} of run {run_id} as {escape(person.contact)} "
        f"({escape(person.proof)}); the run continues with `dr resume {run_id}`"
    )


def _run_and_its_inventory(db: str | None, run_id: str) -> tuple[Journal, RunRecord, Inventory]:
    """The run, its inventory, and the journal opened with the key that inventory names
    (reading the run needs no key; signing what follows does)."""
    # Resuming or approving needs a run to exist: a journal URL that names none is
    # refused rather than created empty.
    reader = open_journal(db, must_exist=True)
    record = reader.get_run(run_id)
    inv = load_inventory(Path(record.inventory_path))
    if inv.journal.key is None:
        return reader, record, inv
    reader.close()
    return open_journal(db, inv.journal.key), record, inv


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
    lang_code = language(lang)
    options = RunOptions(
        mode=mode,
        operator="",
        lang=lang_code,
        auto_confirm=auto_confirm,
        reason=reason,
        incident_id=incident,
        params=parse_params(param),
    )
    journal = open_journal(db, inv.journal.key)
    # Refused before the engine is built, so a refusal is the only message; the engine
    # asks the same rules again before it records the run.
    admit_run(options, inv, journal)
    # Who starts it: the OS account's contact (a live run must have one), never a name.
    person = acting_person(inv, operator, mapped=mode == "live")
    options.operator, options.person = shown_name(person), person
    outcome = _engine(journal, runbooks, lang_code, zone_of(inv)).start(name, inv, options)
    _report(journal, outcome, json_out, lang_code, zone_of(inv))


def _engine(journal: Journal, runbooks: list[Path] | None, lang: Lang, zone: tzinfo) -> Engine:
    return Engine(
        journal,
        open_registry(runbooks),
        observer=LiveView(error_console, lang, zone),
        operator_io=TerminalOperator(error_console, lang),
    )


def _report(
    journal: Journal, outcome: RunOutcome, json_out: bool, lang: Lang, zone: tzinfo
) -> None:
    doc = run_document(journal, outcome.run_id)
    if json_out:
        print_json(console, doc)
    else:
        print_run(console, doc, lang, zone)
    colour = {EXIT_OK: "green", EXIT_STOPPED: "yellow", EXIT_WAITING: "yellow"}.get(
        outcome.exit_code, "red"
    )
    message = escape(outcome.said(lang))
    run_id = "运行编号" if lang == "zh" else "run id"
    error_console.print(f"[{colour}]{message}[/]  {run_id}: {outcome.run_id}")
    raise typer.Exit(outcome.exit_code)
