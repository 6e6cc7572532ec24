"""`dr runs list|show`, `dr runbook list|show` (`dr journal ...` is journal_cmd.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import console, print_json
from orchestrator.cli.options import (
    DbOption,
    JsonOption,
    LangOption,
    RunbooksOption,
    language,
    open_existing_journal,
    open_registry,
)
from orchestrator.cli.step_words import status_word
from orchestrator.cli.summary import print_run
from orchestrator.cli.tables import folding_table, print_table
from orchestrator.journal.run_document import run_document
from orchestrator.shown_times import run_zone, shown_time, zone_at

runs_app = typer.Typer(help="Runs recorded in the journal.", no_args_is_help=True)
runbook_app = typer.Typer(help="The runbooks available.", no_args_is_help=True)


@runs_app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    db: DbOption = None,
    lang: LangOption = None,
    json_out: JsonOption = False,
) -> None:
    """List runs, newest first (times in the zone of each run's inventory)."""
    runs = open_existing_journal(db).list_runs(limit)
    if json_out:
        print_json(console, [r.to_dict() for r in runs])
        return
    lang_code = language(lang)
    # What the operator types next (`dr runs show ID`, `dr resume ID`): never cut.
    headings = (
        ("运行编号", "预案", "模式", "状态", "开始时间", "发起人")
        if lang_code == "zh"
        else ("run id", "runbook", "mode", "status", "started", "by")
    )
    table = folding_table(*headings, whole=2, widest=[r.id for r in runs])
    for r in runs:
        zone = zone_at(r.inventory_path or "")
        table.add_row(
            r.id,
            escape(r.runbook),
            status_word(r.mode, lang_code),
            status_word(r.status, lang_code),
            shown_time(r.started_at, zone),
            escape(r.started_by),
        )
    print_table(console, table)


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    db: DbOption = None,
    lang: LangOption = None,
    json_out: JsonOption = False,
) -> None:
    """One run: its steps with per-host results, and the RTO/RPO achieved."""
    doc = run_document(open_existing_journal(db), run_id)
    if json_out:
        print_json(console, doc)
    else:
        print_run(console, doc, language(lang), run_zone(doc))


@runbook_app.command("list")
def list_runbooks(
    runbooks: RunbooksOption = None, lang: LangOption = None, json_out: JsonOption = False
) -> None:
    """Every runbook found in the package and in --runbooks / DR_RUNBOOKS directories."""
    lang_code = language(lang)
    found = open_registry(runbooks).all()
    if json_out:
        print_json(
            console,
            [
                {
                    "name": r.name,
                    "title": r.title.to_dict(),
                    "system": r.system,
                    "steps": len(r.steps),
                    "source": r.source_file,
                }
                for r in found
            ],
        )
        return
    table = folding_table("name", "title", "steps", "source", widest=[r.name for r in found])
    for r in found:
        table.add_row(
            r.name, escape(r.title(lang_code)), str(len(r.steps)), escape(r.source_file or "")
        )
    print_table(console, table)


@runbook_app.command("show")
def show_runbook(
    name: Annotated[str, typer.Argument(help="Runbook name.")],
    runbooks: RunbooksOption = None,
    lang: LangOption = None,
) -> None:
    """A runbook's steps, parameters and description."""
    lang_code = language(lang)
    runbook = open_registry(runbooks).get(name)
    console.print(f"[bold]{escape(runbook.title(lang_code))}[/] ({runbook.name})")
    if runbook.description:
        console.print(escape(runbook.description(lang_code)))
    console.print(
        f"source: {runbook.source_file}   system: {runbook.system or '-'}   "
        f"on failure: {runbook.on_failure}"
    )
    for pname, param in runbook.params.items():
        console.print(f"  param {pname} = {param.default!r}  {escape(param.help)}")
    for number, step in enumerate(runbook.steps, 1):
        target = f" → {step.targets}" if step.targets else ""
        extra = f" (runs {step.include})" if step.include else ""
        console.print(
            f"{number:>3}. {step.id} \\[{step.kind}] {escape(step.title(lang_code))}"
            f"{escape(target)}{escape(extra)}"
        )
