"""`dr backup find-clean SET -i INVENTORY [--before TIME]`: thin wiring to backups.find_clean
(restic sets) and backups.pitr.find_clean (postgres-pitr sets). Exit 0 naming the newest
backup that passes, 1 when none does."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.options import DbOption, InventoryOption, JsonOption, journal_opener
from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory, PitrBackupSet, load_inventory
from orchestrator.shown_times import shown_time, zone_of

if TYPE_CHECKING:
    from backups.find_clean import FindCleanResult

BeforeOption = Annotated[
    str | None,
    typer.Option(
        "--before",
        help="Only backups older than this time (the attack's start), e.g. "
        "'2026-12-03 14:00' in the inventory's time zone.",
        show_default=False,
    ),
]
RepositoryOption = Annotated[
    int | None,
    typer.Option(
        "--repository",
        help="postgres-pitr sets: only this repository (1, 2, ...; default: each).",
        show_default=False,
    ),
]


def find_clean(
    name: Annotated[str, typer.Argument(help="Backup set name (backup_sets[].name).")],
    inventory: InventoryOption,
    before: BeforeOption = None,
    repository: RepositoryOption = None,
    db: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Name the newest backup that passes the restore test's checks (a restic set: each
    run restored and checked, newest first; a postgres-pitr set: `pgbackrest verify`),
    for a restore to before an attack. Each backup rejected is shown with why."""
    loaded = load_inventory(inventory)
    moment = None if before is None else parse_time(before, loaded.timezone, "--before")
    result = _find(loaded, name, moment, repository, db)
    if json_out:
        print_json(console, result.to_dict())
    else:
        _print(result, zone_of(loaded))
    if result.exit_code:
        since = f" older than {result.before}" if result.before else ""
        error_console.print(
            f"[bold red]error:[/] no backup of {escape(name)}{since} passes the checks; "
            "see the reasons above. 没有通过检查的备份",
            highlight=False,
        )
        raise typer.Exit(result.exit_code)


def parse_time(text: str, timezone: str, option: str) -> datetime:
    """A time as an operator writes it; without a zone, the inventory's."""
    from backups.pitr.point import parse_moment

    try:
        return parse_moment(text, timezone)
    except UserInputError:
        raise UserInputError(
            f"{option} {text!r} is not a time; write e.g. {option} '2026-12-03 14:32:00' "
            f"(in the inventory's time zone, {timezone})"
        ) from None


def _find(
    inventory: Inventory, name: str, before: datetime | None, repository: int | None, db: str | None
) -> FindCleanResult:
    if isinstance(inventory.any_backup_set(name), PitrBackupSet):
        from backups.pitr.context import PitrContext
        from backups.pitr.find_clean import find_clean as find_pitr

        ctx = PitrContext.for_set(
            inventory, name, journal_opener=journal_opener(db, inventory.journal.key)
        )
        return find_pitr(ctx, before=before, repository=repository)
    if repository is not None:
        raise UserInputError("--repository is for postgres-pitr sets")
    from backups.context import BackupContext
    from backups.find_clean import find_clean as find_restic

    return find_restic(
        BackupContext.for_set(
            inventory, name, journal_opener=journal_opener(db, inventory.journal.key)
        ),
        before=before,
    )


def _print(result: FindCleanResult, zone: tzinfo) -> None:
    for candidate in result.candidates:
        where = "" if candidate.repository is None else f"repo{candidate.repository} "
        what = f"{where}{candidate.id} ({shown_time(candidate.time, zone)})"
        if candidate.verdict == "clean":
            snapshot = f", snapshot {candidate.snapshot[:8]}" if candidate.snapshot else ""
            console.print(f"[bold green]clean[/]     {escape(what)}{snapshot}")
        else:
            console.print(f"[bold red]rejected[/]  {escape(what)}")
            for reason in candidate.reasons:
                console.print(f"    {escape(reason)}", highlight=False)
    for note in result.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    if result.clean is not None:
        console.print(f"newest clean backup: [bold]{escape(result.clean.id)}[/]")
