"""Entry point of `dr`: wires the command groups and maps our errors to exit codes."""

from __future__ import annotations

import gc
import sys
from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import error_console
from orchestrator.cli.lazy_group import LazyCommand, LazyTyperGroup
from orchestrator.errors import DrError

PLUGIN_GROUP = "dr.commands"
DISTRIBUTION = "dr-orchestrator"


def _commands(*rows: tuple[str, str, str]) -> tuple[LazyCommand, ...]:
    return tuple(LazyCommand(name, target, help) for name, target, help in rows)


class DrGroup(LazyTyperGroup):
    """`dr`'s own commands, in the order `dr --help` lists them (lone commands first, as
    typer lists them), then other packages' command groups from the `dr.commands` entry
    points: the one door between the product and the drill lab, which registers `dr lab`
    there, so no production module names it and an install without the lab has no
    `dr lab`. Each help is the first paragraph of the command's own help
    (tests/unit/test_cli_lazy.py keeps the two the same)."""

    plugin_entry_points = PLUGIN_GROUP
    lazy_commands = _commands(
        (
            "preflight",
            "orchestrator.cli.preflight_cmd:preflight",
            "Reach every device the runbook needs, read-only (SSH `uname`, SQL `SELECT 1`, "
            "NUT and Modbus reads, a TCP connect to each switch), and say per device what "
            "works. Exits 2 when the plan has problems, 1 when a device is not ready, 0 when "
            "all are.",
        ),
        (
            "restore-test",
            "orchestrator.cli.restore_cmd:restore_test",
            "Restore a backup into a scratch place, verify it against its manifest and the "
            "inventory's validation queries, and measure RTO/RPO against their targets. A "
            "postgres-pitr set: restored to a moment, checked by its validation queries and "
            "its acknowledged writes.",
        ),
        (
            "plan",
            "orchestrator.cli.run_cmd:plan",
            "Show what a runbook would do, step by step: the hosts, switch ports, UPS and "
            "generator each step reaches and the exact commands it sends. Touches nothing. "
            "Exits 2, listing each problem as FILE:LINE, when a parameter names nothing in "
            "the inventory or the inventory lacks what a step needs.",
        ),
        (
            "drill",
            "orchestrator.cli.run_cmd:drill",
            "Rehearse a runbook on a drill inventory (environment: drill).",
        ),
        (
            "run",
            "orchestrator.cli.run_cmd:run",
            "Carry a runbook out for real on a production inventory.",
        ),
        (
            "resume",
            "orchestrator.cli.run_cmd:resume",
            "Finish a run that stopped: completed steps are not repeated.",
        ),
        (
            "approve",
            "orchestrator.cli.run_cmd:approve",
            "Approve a waiting approval step (by someone on its roster, not the run's starter).",
        ),
        (
            "inventory",
            "orchestrator.cli.inventory_cmd:app",
            "Check and show inventories (资产清单): sites, hosts, lines, power, backups, contacts.",
        ),
        ("runbook", "orchestrator.cli.runs_cmd:runbook_app", "The runbooks available."),
        ("runs", "orchestrator.cli.runs_cmd:runs_app", "Runs recorded in the journal."),
        (
            "journal",
            "orchestrator.cli.journal_cmd:app",
            "The journal itself: its key, its proof, its anchors.",
        ),
        (
            "backup",
            "orchestrator.cli.backup_cmd:app",
            "Backups with restic, and the database's PITR archive with pgBackRest (kind "
            "postgres-pitr): init, run, list, check, prune.",
        ),
        (
            "scheduler",
            "orchestrator.cli.scheduler_cmd:app",
            "Run backups, restore tests and the RPO watchdog on their schedules.",
        ),
        (
            "incident",
            "orchestrator.cli.incident_cmd:app",
            "Incidents: alert levels, grades, deadlines and notifications (事件与预警).",
        ),
        (
            "report",
            "orchestrator.cli.report_cmd:app",
            "Reports for management and the regulator (报告).",
        ),
        (
            "serve",
            "orchestrator.cli.serve_cmd:app",
            "The duty-room web console (值班控制台): incidents, live runs, RPO ages, approvals.",
        ),
        (
            "alerts",
            "orchestrator.cli.alerts_cmd:app",
            "Monitoring alerts that open incidents (告警接入): Alertmanager, Zabbix.",
        ),
        (
            "credit",
            "orchestrator.cli.credit_cmd:app",
            "Report messages to the credit centre (征信报文): reconcile, and what to redo after "
            "a recovery.",
        ),
    )


# Typer's --install-completion and --show-completion (the shell is detected from the
# parent process). Completing a command's name lists the names and their one-line help
# above; completing within a command imports that command only.
app = typer.Typer(
    name="dr",
    cls=DrGroup,
    help="Disaster-recovery and backup orchestrator (灾备与数据备份编排工具).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def installed_version() -> str:
    """The installed distribution's version, as pip and the wheel's metadata say it."""
    # Imported here: importlib.metadata is tens of milliseconds at every start otherwise.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        # Run from a checkout that was never installed (python -m orchestrator.cli.main).
        return "unknown (not installed; run from a source tree)"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"dr ({DISTRIBUTION}) {installed_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print dr's version (版本) and exit.",
        ),
    ] = False,
) -> None:
    # Also what makes typer build `dr` as a group (DrGroup) although no command is
    # registered on the app itself: they are all DrGroup's lazy commands.
    pass


def run() -> None:
    """Console-script entry: run the app and turn our errors into messages and exit codes.

    Usage errors are click's own (exit 2); everything we raise on purpose is a DrError
    with an operator message; anything else is a bug and keeps its traceback.
    """
    try:
        app()
    except DrError as err:
        error_console.print(f"[bold red]error:[/] {escape(err.message)}", highlight=False)
        sys.exit(err.exit_code)
    finally:
        # What the command loaded and built since is freed with the process anyway;
        # spares the collection at exit walking it (bench/backup_vs_restic.py).
        gc.freeze()


if __name__ == "__main__":
    run()
