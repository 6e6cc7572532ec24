"""`dr restore-test SET -i INVENTORY [--snapshot ID] [--json]`: thin wiring to
backups.actions.restore_test (a postgres-pitr set, with `--to TIME`: backup_pitr_test.py).
Exit 0 only when every check passed and every target met."""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated

import typer
from rich.markup import escape

from backups.actions.restore_test import restore_test as run_restore_test
from backups.context import BackupContext
from backups.restore.record import PASSED, RestoreTestRecord
from orchestrator.cli import backup_pitr, backup_pitr_test
from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.options import DbOption, InventoryOption, JsonOption, open_journal
from orchestrator.errors import UserInputError
from orchestrator.inventory import format_duration, load_inventory
from orchestrator.shown_times import shown_time, zone_of

SnapshotOption = Annotated[
    str | None,
    typer.Option(
        "--snapshot",
        help="Snapshot id (any part of the run, or its manifest) or run id to test "
        "(default: the newest good run).",
        show_default=False,
    ),
]


ToOption = Annotated[
    str | None,
    typer.Option(
        "--to",
        help='postgres-pitr sets: the moment to restore to, e.g. "2026-12-03 14:32:00" in '
        "the inventory's time zone (default: at random in the last period).",
        show_default=False,
    ),
]


def restore_test(
    set_name: Annotated[str, typer.Argument(help="Backup set name (backup_sets[].name).")],
    inventory: InventoryOption,
    snapshot: SnapshotOption = None,
    json_out: JsonOption = False,
    db: DbOption = None,
    to: ToOption = None,
) -> None:
    """Restore a backup into a scratch place, verify it against its manifest and the
    inventory's validation queries, and measure RTO/RPO against their targets. A
    postgres-pitr set: restored to a moment, checked by its validation queries and its
    acknowledged writes."""
    loaded = load_inventory(inventory)
    if backup_pitr.is_pitr_set(loaded, set_name):
        if snapshot is not None:
            raise UserInputError("--snapshot is for restic sets; a postgres-pitr set takes --to")
        backup_pitr_test.restore_test(loaded, set_name, db, json_out, to)
        return
    if to is not None:
        raise UserInputError("--to is for postgres-pitr sets; a restic set takes --snapshot")
    ctx = BackupContext.for_set(loaded, set_name, journal=open_journal(db, loaded.journal.key))
    record = run_restore_test(ctx, snapshot=snapshot)
    if json_out:
        print_json(console, record.to_dict())
    else:
        _print_record(record, zone_of(loaded))
    if record.exit_code:
        for problem in record.problems:
            error_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False)
        raise typer.Exit(record.exit_code)


def _print_record(record: RestoreTestRecord, zone: tzinfo) -> None:
    verdict = "[bold green]PASSED[/]" if record.outcome == PASSED else "[bold red]FAILED[/]"
    console.print(
        f"restore test [cyan]{record.test_id}[/] of {escape(record.backup_set)}: {verdict}"
    )
    if record.run_id is not None:
        console.print(
            f"  run {record.run_id} (snapshot {(record.snapshot_id or '?')[:8]}, "
            f"{shown_time(record.snapshot_time, zone)}), {record.bytes} bytes restored"
        )
    if record.files:
        files = record.files
        changed = (files.get("changed_while_backed_up") or {}).get("count", 0)
        console.print(
            f"  files: {files['verified']}/{files['expected']} verified by hash"
            + (
                f", {changed} changed while backed up (restored, not hash-checked)"
                if changed
                else ""
            )
        )
    for database in record.databases:
        console.print(
            f"  database {escape(database['name'])}: {database['tables_verified']} tables, "
            f"{database['rows']} rows verified"
        )
    if record.validations:
        passed = sum(1 for v in record.validations if v["problem"] is None)
        console.print(f"  validations: {passed}/{len(record.validations)} passed")
    names = {"rto": "RTO", "rpo": "RPO", "max_gap": "largest gap"}
    for key, found in record.measurements.items():
        if found.seconds is None:
            continue
        target = (
            f" (target {format_duration(found.target_seconds)}: {found.verdict})"
            if found.target_seconds is not None
            else " (no target)"
        )
        console.print(f"  {names[key]}: {format_duration(found.seconds)}{target}")
