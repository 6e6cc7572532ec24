"""`dr backup list SET`: the set's runs in its repository, and how old the newest good
one is against the set's RPO target."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backups import catalog
from backups.context import BackupContext


def list_backups(ctx: BackupContext, *, now: datetime | None = None) -> dict[str, Any]:
    session = ctx.session()
    found = catalog.runs(catalog.set_snapshots(session, ctx.backup_set.name))
    good = catalog.last_good_run(found)
    moment = now or datetime.now(UTC)
    age = (moment - good.time).total_seconds() if good else None
    target = ctx.backup_set.rpo
    return {
        "backup_set": ctx.backup_set.name,
        "repository": session.repository.location,
        "restic_version": str(session.version),
        "runs": [run.to_dict() for run in found],
        "last_good": good.to_dict() if good else None,
        "rpo": {
            "age_seconds": None if age is None else int(age),
            "target_seconds": target,
            "met": None if target is None else (age is not None and age <= target),
        },
    }
