"""`dr restore-test SET [--to TIME]` when SET is of kind `postgres-pitr`: thin wiring to
backups.pitr.restore_test (restore_cmd.py hands such a set here). Exit 0 only when the
copy passed every check and every target was met."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.options import journal_opener
from orchestrator.inventory import Inventory, format_duration

if TYPE_CHECKING:
    from backups.pitr.restore_test import PitrRestoreTestRecord


def restore_test(
    inventory: Inventory, name: str, db: str | None, json_out: bool, to: str | None
) -> None:
    from backups.pitr.context import PitrContext
    from backups.pitr.point import parse_moment
    from backups.pitr.restore_test import restore_test as run_restore_test

    moment = None if to is None else parse_moment(to, inventory.timezone)
    ctx = PitrContext.for_set(
        inventory, name, journal_opener=journal_opener(db, inventory.journal.key)
    )
    record = run_restore_test(ctx, to=moment)
    if json_out:
        print_json(console, record.to_dict())
    else:
        _print_record(record)
    if record.exit_code:
        for problem in record.problems:
            error_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False)
        raise typer.Exit(record.exit_code)


def _print_record(record: PitrRestoreTestRecord) -> None:
    verdict = "[bold green]PASSED[/]" if record.outcome == "passed" else "[bold red]FAILED[/]"
    console.print(
        f"restore test [cyan]{record.test_id}[/] of {escape(record.backup_set)}: {verdict}"
    )
    if record.point:
        how = "chosen at random" if record.point["how"] == "random" else "as asked"
        console.print(
            f"  moment {record.point['moment'][:23]} UTC ({how}) from {record.repository}"
        )
    if record.backup_label:
        console.print(f"  base backup {record.backup_label}, {record.bytes} bytes restored")
    if record.recovery:
        console.print(f"  replay: {escape(record.recovery['detail'])}")
    if record.validations:
        passed = sum(1 for v in record.validations if v["problem"] is None)
        console.print(f"  validations: {passed}/{len(record.validations)} passed")
    if record.writes is not None:
        writes = record.writes
        console.print(
            f"  acknowledged writes: {writes['before'] - writes['missing']}/{writes['before']} "
            f"since the base backup present, {writes['after_present']} of {writes['after']} "
            f"after the moment present, {writes['rows_checked']} rows checked"
        )
    for key, label in (("rto", "RTO"), ("rpo", "RPO")):
        found = record.measurements.get(key)
        if found is None or found.seconds is None:
            continue
        target = (
            f" (target {format_duration(found.target_seconds)}: {found.verdict})"
            if found.target_seconds is not None
            else " (no target)"
        )
        console.print(f"  {label}: {format_duration(found.seconds)}{target}")
