"""`dr backup check SET`: restic check, reading a rotating part of the data.

Without --read-data-subset, day d reads part (d mod N)+1 of N (N = check_cycle_days, 30
by default): run daily, every pack is read once in N days at 1/N of the cost each day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from backups.context import BackupContext
from backups.locks import backup_set_lock
from backups.restic.check import rotating_subset, valid_subset
from orchestrator.errors import UserInputError


def choose_subset(requested: str | None, today: date, cycle_days: int) -> str | None:
    if requested is None:
        return rotating_subset(today, cycle_days)
    if requested == "none":
        return None  # structure only, no pack data read
    if requested == "all":
        return "1/1"
    if not valid_subset(requested):
        raise UserInputError(
            f"--read-data-subset {requested!r}: use n/t (e.g. 3/30), a percentage (5%), "
            "a size (500M), 'all' or 'none'"
        )
    return requested


def check_set(
    ctx: BackupContext, *, subset: str | None = None, today: date | None = None
) -> dict[str, Any]:
    bset = ctx.backup_set
    chosen = choose_subset(subset, today or datetime.now(UTC).date(), bset.check_cycle_days)
    with backup_set_lock(bset.name):
        session = ctx.session()
        result = session.check(chosen)
        document = {
            "repository": session.repository.location,
            "ok": result.ok,
            "read_data_subset": result.read_data_subset,
            "errors": list(result.errors),
        }
        ctx.record("backup.checked", document)
    return document
