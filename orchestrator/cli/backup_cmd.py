"""`dr backup init|run|list|check|prune SET -i INVENTORY`: thin wiring to backups.actions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape

from backups.actions.check import check_set
from backups.actions.init import init_set
from backups.actions.prune import prune_set
from backups.actions.run import run_backup
from backups.context import BackupContext, ProgressSink
from backups.restic.backup import BackupStatus
from backups.results import BackupResult
from orchestrator.cli import backup_pitr, find_clean_cmd, rewind_cmd
from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.options import (
    DbOption,
    InventoryOption,
    JsonOption,
    journal_opener,
    open_journal,
)
from orchestrator.errors import EXIT_FAILED, UserInputError
from orchestrator.inventory import format_duration, load_inventory
from orchestrator.shown_times import shown_time, zone_of

app = typer.Typer(
    help="Backups with restic, and the database's PITR archive with pgBackRest (kind "
    "postgres-pitr): init, run, list, check, prune.",
    no_args_is_help=True,
)

SetArgument = Annotated[str, typer.Argument(help="Backup set name (backup_sets[].name).")]


def _context(name: str, inventory: Any, db: str | None) -> BackupContext:
    loaded = load_inventory(inventory)
    return BackupContext.for_set(loaded, name, journal=open_journal(db, loaded.journal.key))


@app.command("init")
def init(
    name: SetArgument, inventory: InventoryOption, db: DbOption = None, json_out: JsonOption = False
) -> None:
    """Create the set's repository (and its copy_to), provisioning S3 buckets with versioning.
    A postgres-pitr set: its pgBackRest configuration and stanza, and archiving's settings."""
    loaded = load_inventory(inventory)
    if backup_pitr.is_pitr_set(loaded, name):
        backup_pitr.init(loaded, name, db, json_out)
        return
    journal = open_journal(db, loaded.journal.key)
    document = init_set(BackupContext.for_set(loaded, name, journal=journal))
    if json_out:
        print_json(console, document)
        return
    for role, info in document.items():
        state = "created" if info["created"] else "already there"
        console.print(f"{role}: {escape(info['location'])} {state}")


@app.command("run")
def run(
    name: SetArgument,
    inventory: InventoryOption,
    db: DbOption = None,
    json_out: JsonOption = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Wait up to SECONDS if the set is busy.")
    ] = 0,
    kind: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="postgres-pitr sets: full or diff base backup (default: by the set's schedules).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Back the set up now: hooks, files, database dumps, manifest, offsite copy (a
    postgres-pitr set: a base backup into each of its repositories)."""
    loaded = load_inventory(inventory)
    if backup_pitr.is_pitr_set(loaded, name):
        backup_pitr.run(loaded, name, db, json_out, kind, wait)
        return
    if kind is not None:
        raise UserInputError("--type is for postgres-pitr sets; a restic run backs up all")
    with _progress_bars(enabled=error_console.is_terminal and not json_out) as progress:
        # The journal opens once restic runs: a bad --db still stops the run, with
        # restic interrupted and no sealed backup.
        ctx = BackupContext.for_set(
            loaded, name, journal_opener=journal_opener(db, loaded.journal.key), progress=progress
        )
        result = run_backup(ctx, wait_seconds=wait)
    if json_out:
        print_json(console, result.to_dict())
    else:
        _print_result(result)
    if result.exit_code:
        for error in result.errors:
            error_console.print(f"[bold red]error:[/] {escape(error)}", highlight=False)
        raise typer.Exit(result.exit_code)


@app.command("list")
def list_(
    name: SetArgument, inventory: InventoryOption, db: DbOption = None, json_out: JsonOption = False
) -> None:
    """The set's backup runs in its repository, newest last, and the RPO clock (a
    postgres-pitr set: base backups, archived WAL and the recovery window)."""
    # Imported here, as the progress bars below: `dr backup run` does not load them
    # before its restic starts (bench/backup_vs_restic.py).
    from backups.actions.list import list_backups
    from orchestrator.cli.tables import folding_table, print_table

    loaded = load_inventory(inventory)
    if backup_pitr.is_pitr_set(loaded, name):
        backup_pitr.list_(loaded, name, db, json_out)
        return
    journal = open_journal(db, loaded.journal.key)
    document = list_backups(BackupContext.for_set(loaded, name, journal=journal))
    if json_out:
        print_json(console, document)
        return
    table = folding_table("run", "time", "status", "parts")
    zone = zone_of(loaded)
    for run in document["runs"]:
        parts = ", ".join(f"{p}={s[:8]}" for p, s in run["parts"].items())
        table.add_row(run["run_id"], shown_time(run["time"], zone), run["status"], escape(parts))
    print_table(console, table)
    rpo = document["rpo"]
    if rpo["age_seconds"] is None:
        console.print("no good backup in this repository")
    else:
        target = (
            f" (target {format_duration(rpo['target_seconds'])})"
            if rpo["target_seconds"] is not None
            else ""
        )
        console.print(f"newest good backup is {format_duration(rpo['age_seconds'])} old{target}")


@app.command("check")
def check(
    name: SetArgument,
    inventory: InventoryOption,
    db: DbOption = None,
    json_out: JsonOption = False,
    subset: Annotated[
        str | None,
        typer.Option(
            "--read-data-subset",
            help="Part of the data to read: n/t, x%, a size, 'all' or 'none' "
            "(default: today's 1/N, so every pack is read once in check_cycle_days).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check the repository's structure and read part of its data (a postgres-pitr set:
    `pgbackrest check`, then `verify` of every repository)."""
    loaded = load_inventory(inventory)
    if backup_pitr.is_pitr_set(loaded, name):
        if subset is not None:
            raise UserInputError("--read-data-subset is for restic sets; verify reads it all")
        backup_pitr.check(loaded, name, db, json_out)
        return
    document = check_set(
        BackupContext.for_set(loaded, name, journal=open_journal(db, loaded.journal.key)),
        subset=subset,
    )
    if json_out:
        print_json(console, document)
    else:
        verdict = "no errors" if document["ok"] else "ERRORS FOUND"
        read = document["read_data_subset"] or "no data"
        console.print(f"{escape(document['repository'])}: {verdict} (read {read})")
        for line in document["errors"]:
            console.print(f"  {escape(line)}")
    if not document["ok"]:
        raise typer.Exit(EXIT_FAILED)


@app.command("prune")
def prune(
    name: SetArgument, inventory: InventoryOption, db: DbOption = None, json_out: JsonOption = False
) -> None:
    """Forget the runs the retention policy does not keep, then free their space."""
    document = prune_set(_context(name, inventory, db))
    if json_out:
        print_json(console, document)
        return
    console.print(
        f"kept {len(document['kept_runs'])} runs, removed {len(document['removed_runs'])} "
        f"({document['removed_snapshots']} snapshots)"
    )


def _print_result(result: BackupResult) -> None:
    console.print(
        f"backup run [cyan]{result.run_id}[/] of {escape(result.backup_set)}: "
        f"[bold]{result.status}[/] in {result.duration_seconds:.1f}s; "
        f"{result.files} files, {result.bytes} bytes ({result.data_added} new)"
    )
    for part, snapshot in result.snapshots.items():
        console.print(f"  {escape(part)}: snapshot {snapshot[:8]}")
    if result.copy is not None:
        console.print(f"  copy to {escape(result.copy['repository'])}: {result.copy['status']}")


@contextmanager
def _progress_bars(*, enabled: bool) -> Iterator[ProgressSink | None]:
    """Bars drawn from restic's status lines, on stderr, only for a person at a terminal."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn())
    with Progress(*columns, console=error_console, transient=True) as bars:
        tasks: dict[str, Any] = {}

        def show(label: str, status: BackupStatus) -> None:
            if label not in tasks:
                tasks[label] = bars.add_task(escape(label), total=status.total_bytes or None)
            bars.update(tasks[label], completed=status.bytes_done, total=status.total_bytes or None)

        yield show


# Recovery from an attack: the newest clean backup, and an S3 repository rewound.
app.command("find-clean")(find_clean_cmd.find_clean)
app.command("rewind")(rewind_cmd.rewind)
