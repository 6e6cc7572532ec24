"""`dr preflight RUNBOOK -i INV`: the weekly readiness check of one runbook."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from orchestrator.cli.console import console, print_json
from orchestrator.cli.options import (
    InventoryOption,
    JsonOption,
    LangOption,
    ParamOption,
    RunbookArg,
    RunbooksOption,
    language,
    open_registry,
    parse_params,
)
from orchestrator.engine.plan import make_plan
from orchestrator.engine.preflight import check_readiness
from orchestrator.errors import EXIT_FAILED, PlanRefused
from orchestrator.inventory import load_inventory


def preflight(
    name: RunbookArg,
    inventory: InventoryOption,
    param: ParamOption = None,
    runbooks: RunbooksOption = None,
    lang: LangOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reach every device the runbook needs, read-only (SSH `uname`, SQL `SELECT 1`, NUT
    and Modbus reads, a TCP connect to each switch), and say per device what works.
    Exits 2 when the plan has problems, 1 when a device is not ready, 0 when all are."""
    inv = load_inventory(inventory)
    registry = open_registry(runbooks)
    runbook = registry.get(name)
    plan = make_plan(runbook, registry, parse_params(param), inv, language(lang))
    if plan.problems:
        raise PlanRefused(plan.problems)
    answers = check_readiness(plan, inv)
    failed = [a for a in answers if not a.ok]
    if json_out:
        print_json(console, {"runbook": runbook.name, "devices": [a.to_dict() for a in answers]})
    else:
        table = Table(title=f"{runbook.name} on {inv.name}: 就绪检查 / readiness")
        for column in ("", "kind", "device", "address", "what works / 结果"):
            table.add_column(column)
        for a in answers:
            mark = "[green]OK[/]" if a.ok else "[red]FAILED[/]"
            table.add_row(mark, a.kind, escape(a.name), escape(a.address), escape(a.detail))
        console.print(table)
        if failed:
            console.print(
                f"[red]{len(failed)} 台设备未就绪 / {len(failed)} of {len(answers)} device(s) "
                "not ready[/]: fix them before the runbook is needed"
            )
        else:
            console.print(f"[green]全部就绪 / all {len(answers)} device(s) ready[/]")
    if failed:
        raise typer.Exit(EXIT_FAILED)
