"""Entry point of `dr`: wires the command groups and maps our errors to exit codes."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from orchestrator.cli.console import error_console
from orchestrator.errors import DrError

app = typer.Typer(
    name="dr",
    help="Disaster-recovery and backup orchestrator (灾备与数据备份编排工具).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_command_groups() -> None:
    # Imported here so that a slow or broken group never stops `dr --help` from loading.
    from orchestrator.cli import (
        backup_cmd,
        inventory_cmd,
        lab_cmd,
        restore_cmd,
        run_cmd,
        runs_cmd,
        scheduler_cmd,
    )

    app.add_typer(inventory_cmd.app, name="inventory")
    app.add_typer(runs_cmd.runbook_app, name="runbook")
    app.add_typer(runs_cmd.runs_app, name="runs")
    app.add_typer(runs_cmd.journal_app, name="journal")
    app.add_typer(lab_cmd.app, name="lab")
    app.add_typer(backup_cmd.app, name="backup")
    app.command("restore-test")(restore_cmd.restore_test)
    app.add_typer(scheduler_cmd.app, name="scheduler")
    for command in (run_cmd.plan, run_cmd.drill, run_cmd.run, run_cmd.resume, run_cmd.approve):
        app.command(command.__name__)(command)


def run() -> None:
    """Console-script entry: run the app and turn our errors into messages and exit codes.

    Usage errors are click's own (exit 2); everything we raise on purpose is a DrError
    with an operator message; anything else is a bug and keeps its traceback.
    """
    _register_command_groups()
    try:
        app()
    except DrError as err:
        error_console.print(f"[bold red]error:[/] {escape(err.message)}", highlight=False)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    run()
