"""`dr backup list SET`: the set's runs in its repository, and how old the newest good
one is against the set's RPO target."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backups import catalog
from backups.context import BackupContext
from backups.recovery_point import recovery_point


def list_backups(ctx: BackupContext, *, now: datetime | None = None) -> dict[str, Any]:
    session = ctx.session()
    found = catalog.runs(catalog.set_snapshots(session, ctx.backup_set.name))
    point = recovery_point(found, ctx.backup_set, now or datetime.now(UTC))
    good = point.newest_good
    return {
        "backup_set": ctx.backup_set.name,
        "repository": session.repository.location,
        "restic_version": str(session.version),
        "runs": [run.to_dict() for run in found],
        "last_good": good.to_dict() if good else None,
        "rpo": {
            "age_seconds": None if point.age_seconds is None else int(point.age_seconds),
            "target_seconds": point.target_seconds,
            "met": point.met,
        },
    }
