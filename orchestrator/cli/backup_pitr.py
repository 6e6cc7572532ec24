"""`dr backup init|run|list|check SET` when SET is of kind `postgres-pitr` (pgBackRest).

backup_cmd.py hands a set of this kind here; the restic path stays as it was. The
actions (backups.pitr) are imported when used, so that a restic backup does not pay
for loading them.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, Any, cast

import typer
from rich.markup import escape

from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.options import journal_opener
from orchestrator.errors import EXIT_FAILED, UserInputError
from orchestrator.inventory import Inventory, PitrBackupSet, format_duration
from orchestrator.shown_times import shown_time, zone_of

if TYPE_CHECKING:
    from backups.pgbackrest.backup import BackupType
    from backups.pitr.context import PitrContext

BACKUP_TYPES = ("full", "diff", "incr")


def is_pitr_set(inventory: Inventory, name: str) -> bool:
    return isinstance(inventory.any_backup_set(name), PitrBackupSet)


def _context(inventory: Inventory, name: str, db: str | None) -> PitrContext:
    from backups.pitr.context import PitrContext

    return PitrContext.for_set(
        inventory, name, journal_opener=journal_opener(db, inventory.journal.key)
    )


def init(inventory: Inventory, name: str, db: str | None, json_out: bool) -> None:
    from backups.pitr.init import init_set

    document = init_set(_context(inventory, name, db))
    if json_out:
        print_json(console, document)
        return
    console.print(f"stanza {escape(document['stanza'])}: config {document['config_file']}")
    for repo in document["repositories"]:
        console.print(f"  repo{repo['repository']} {escape(repo['location'])}: ready")
    console.print("PostgreSQL settings that archive into it (postgresql.conf, then reload):")
    for key, value in document["postgresql_settings"].items():
        console.print(f"  {key} = {escape(value)}", highlight=False, soft_wrap=True)


def run(
    inventory: Inventory, name: str, db: str | None, json_out: bool, kind: str | None, wait: float
) -> None:
    from backups.pitr.run import run_backup

    if kind is not None and kind not in BACKUP_TYPES:
        raise UserInputError(f"--type {kind!r}: use one of {', '.join(BACKUP_TYPES)}")
    chosen = cast("BackupType | None", kind)
    result = run_backup(_context(inventory, name, db), kind=chosen, wait_seconds=wait)
    if json_out:
        print_json(console, result.to_dict())
    else:
        console.print(
            f"backup run [cyan]{result.run_id}[/] of {escape(result.backup_set)} "
            f"({result.type}: {escape(result.type_reason)}): [bold]{result.status}[/] "
            f"in {result.duration_seconds:.1f}s"
        )
        for entry in result.backups:
            where = f"repo{entry['repository']} {escape(entry['location'])}"
            console.print(f"  {where}: {_made(entry)}")
    if result.exit_code:
        for error in result.errors:
            error_console.print(f"[bold red]error:[/] {escape(error)}", highlight=False)
        raise typer.Exit(result.exit_code)


def list_(inventory: Inventory, name: str, db: str | None, json_out: bool) -> None:
    from backups.pitr.listing import list_backups

    document = list_backups(_context(inventory, name, db))
    if json_out:
        print_json(console, document)
        return
    zone = zone_of(inventory)
    for repo in document["repositories"]:
        _print_repository(repo, zone)
    window, rpo = document["recovery_window"], document["rpo"]
    if window["to"] is None:
        console.print("no repository can restore this cluster yet (no base backup, or no WAL)")
        return
    console.print(
        f"recovery window: {shown_time(window['from'], zone)} to {shown_time(window['to'], zone)}"
    )
    goal = rpo["target_seconds"]
    target = "" if goal is None else f" (target {format_duration(goal)})"
    console.print(f"newest archived WAL is {format_duration(rpo['age_seconds'])} old{target}")


def check(inventory: Inventory, name: str, db: str | None, json_out: bool) -> None:
    from backups.pitr.check import check_set

    document = check_set(_context(inventory, name, db))
    if json_out:
        print_json(console, document)
    else:
        archiving = document["archiving"]
        failed = f"archiving: FAILED: {escape(archiving['error'] or '')}"
        console.print("archiving: ok" if archiving["ok"] else failed)
        for repo in document["repositories"]:
            verdict = "verified, no errors" if repo["ok"] else "ERRORS FOUND"
            console.print(f"repo{repo['repository']} {escape(repo['location'])}: {verdict}")
            for line in repo["findings"] + ([repo["error"]] if repo["error"] else []):
                console.print(f"  {escape(line)}")
    if not document["ok"]:
        raise typer.Exit(EXIT_FAILED)


def _made(entry: dict[str, Any]) -> str:
    if entry["status"] != "ok":
        return "[bold red]failed[/] (why: below)"
    if "label" not in entry:
        return "ok"
    return (
        f"{entry['type']} {entry['label']}, database {_size(entry['database_bytes'])}, "
        f"{_size(entry['repository_added_bytes'])} added to the repository"
    )


def _print_repository(repo: dict[str, Any], zone: tzinfo) -> None:
    # Imported here: backup_cmd imports this module, and `dr backup run` of a restic set
    # does not load rich's tables before its restic starts.
    from orchestrator.cli.tables import folding_table, print_table

    console.print(f"[bold]repo{repo['repository']}[/] {escape(repo['location'])}")
    if repo["error"]:
        console.print(f"  [bold red]error:[/] {escape(repo['error'])}")
    # The WAL range of each backup is in --json; it would not fit a terminal's width.
    # The label is what pgBackRest's --set names: never cut.
    table = folding_table("label", "type", "start", "stop", "database", "stored")
    for b in repo["backups"]:
        table.add_row(
            b["label"], b["type"], shown_time(b["start"], zone), shown_time(b["stop"], zone),
            _size(b["database_bytes"]), _size(b["repository_bytes"]),
        )  # fmt: skip
    if repo["backups"]:
        print_table(console, table)
    wal = repo["wal"]
    if wal is not None:
        arrived = shown_time(wal["newest_arrived"], zone)
        console.print(f"  WAL {wal['oldest']} - {wal['newest']} (newest arrived {arrived})")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
