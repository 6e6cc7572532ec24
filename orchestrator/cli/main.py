"""Entry point of `dr`: wires the command groups and maps our errors to exit codes."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import error_console
from orchestrator.errors import DrError, PluginUnavailable

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

PLUGIN_GROUP = "dr.commands"
DISTRIBUTION = "dr-orchestrator"

# Typer's --install-completion and --show-completion (the shell is detected from the
# parent process): completing a word runs `dr` with no command word, which registers
# every command group (_register_command_groups), so all of them complete.
app = typer.Typer(
    name="dr",
    help="Disaster-recovery and backup orchestrator (灾备与数据备份编排工具).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def installed_version() -> str:
    """The installed distribution's version, as pip and the wheel's metadata say it."""
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
    # Also what keeps `dr` a group when only one lone command is registered: without a
    # callback typer would drop that command's name (`dr restore-test SET` as `dr SET`).
    pass


def _register_command_groups(argv: list[str] | None = None) -> None:
    """Register the command groups; with `argv`, only the one its first word names.

    Each group imports what it needs (the engine brings paramiko and netmiko, the journal
    SQLAlchemy): `dr backup run` loading every group would pay for all of them at each
    start, which the benchmark against raw restic counts (bench/backup_vs_restic.py).
    Anything else (`dr --help`, a typo) gets all groups, so help and click's "no such
    command" stay complete. Imported here too so that a slow or broken group never
    stops `dr --help` from loading.
    """
    word = next((a for a in (argv or [])[1:2] if not a.startswith("-")), None)
    registrars = _registrars()
    chosen = registrars.get(word) if word else None
    if chosen is None:
        # Not one of ours: a plugin's (the drill lab's `dr lab`), or help for everything.
        registrars.update(_plugin_registrars())
        chosen = registrars.get(word) if word else None
    for register in [chosen] if chosen is not None else list(dict.fromkeys(registrars.values())):
        register()


def _registrars() -> dict[str, Callable[[], None]]:
    def inventory() -> None:
        from orchestrator.cli import inventory_cmd

        app.add_typer(inventory_cmd.app, name="inventory")

    def runs() -> None:
        from orchestrator.cli import journal_cmd, runs_cmd

        app.add_typer(runs_cmd.runbook_app, name="runbook")
        app.add_typer(runs_cmd.runs_app, name="runs")
        app.add_typer(journal_cmd.app, name="journal")

    def backup() -> None:
        from orchestrator.cli import backup_cmd

        app.add_typer(backup_cmd.app, name="backup")

    def restore_test() -> None:
        from orchestrator.cli import restore_cmd

        app.command("restore-test")(restore_cmd.restore_test)

    def scheduler() -> None:
        from orchestrator.cli import scheduler_cmd

        app.add_typer(scheduler_cmd.app, name="scheduler")

    def incident() -> None:
        from orchestrator.cli import incident_cmd

        app.add_typer(incident_cmd.app, name="incident")

    def report() -> None:
        from orchestrator.cli import report_cmd

        app.add_typer(report_cmd.app, name="report")

    def serve() -> None:
        from orchestrator.cli import serve_cmd

        app.add_typer(serve_cmd.app, name="serve")

    def alerts() -> None:
        from orchestrator.cli import alerts_cmd

        app.add_typer(alerts_cmd.app, name="alerts")

    def credit() -> None:
        from orchestrator.cli import credit_cmd

        app.add_typer(credit_cmd.app, name="credit")

    def run_commands() -> None:
        from orchestrator.cli import run_cmd

        for command in (run_cmd.plan, run_cmd.drill, run_cmd.run, run_cmd.resume, run_cmd.approve):
            app.command(command.__name__)(command)

    def preflight() -> None:
        from orchestrator.cli import preflight_cmd

        app.command("preflight")(preflight_cmd.preflight)

    return {
        "inventory": inventory,
        "preflight": preflight,
        "runbook": runs,
        "runs": runs,
        "journal": runs,
        "backup": backup,
        "restore-test": restore_test,
        "scheduler": scheduler,
        "incident": incident,
        "report": report,
        "serve": serve,
        "alerts": alerts,
        "credit": credit,
        **dict.fromkeys(("plan", "drill", "run", "resume", "approve"), run_commands),
    }


def _plugin_registrars() -> dict[str, Callable[[], None]]:
    """Command groups that other packages add through the `dr.commands` entry points.

    This is the one door between the product and the drill lab: the lab registers
    `dr lab` here, so no production module names it, and an install without the lab
    simply has no `dr lab`.
    """
    from importlib.metadata import entry_points

    def registrar(entry: EntryPoint) -> Callable[[], None]:
        def register() -> None:
            try:
                group = entry.load()
            except ImportError as err:
                raise PluginUnavailable(entry.name, entry.value, err) from err
            app.add_typer(group, name=entry.name)

        return register

    return {entry.name: registrar(entry) for entry in entry_points(group=PLUGIN_GROUP)}


def run() -> None:
    """Console-script entry: run the app and turn our errors into messages and exit codes.

    Usage errors are click's own (exit 2); everything we raise on purpose is a DrError
    with an operator message; anything else is a bug and keeps its traceback.
    """
    # The imports of a command group make hundreds of thousands of objects that live
    # as long as the process. Without collections while they load, and with them frozen
    # out of every later collection (and out of the one at exit), `dr backup run`
    # starts restic sooner and exits sooner (bench/backup_vs_restic.py measures by how much).
    gc.disable()
    _register_command_groups(sys.argv)
    gc.freeze()
    gc.enable()
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
