"""Restore a `postgres-pitr` set's cluster to a point in time, into a data directory.

pgBackRest picks the newest base backup that can reach the target (or the one named),
writes it into `data_dir`, and sets the cluster up to fetch WAL from the archive up to
the target on its first start, then promote. The restore_command it writes carries no
secret: it reads them from where the inventory says, like archive_command
(`backups.pgbackrest.archiving`). Starting the cluster, checking what it holds and
moving the service there are the restore runbook's steps, not this function's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from backups.pgbackrest.restore import RecoveryTarget, TargetAction, build_restore
from backups.pitr import files
from backups.pitr.context import PitrContext
from backups.pitr.settings import restore_command
from orchestrator.errors import DrError


def restore_cluster(
    ctx: PitrContext,
    data_dir: Path,
    target: RecoveryTarget,
    *,
    repository: int | None = None,
    backup_label: str | None = None,
    delta: bool = False,
    target_action: TargetAction = "promote",
    archive_mode: Literal["off", "preserve"] = "off",
) -> dict[str, Any]:
    """`data_dir` must be empty (or `delta`) and no cluster may run there; it is made
    for the set's account if it is missing. `archive_mode` "preserve" only when the
    restored cluster becomes the one archived (a site moved, not a copy beside it)."""
    bset = ctx.backup_set
    session = ctx.session()
    files.working_directory(data_dir, session.owner)
    args = build_restore(
        target,
        repository=repository,
        backup_set=backup_label,
        pg_path=str(data_dir),
        delta=delta,
        target_action=target_action,
        archive_mode=archive_mode,
        restore_command=restore_command(ctx.inventory, bset, session.program, str(data_dir)),
    )
    document: dict[str, Any] = {
        "stanza": bset.stanza,
        "data_dir": str(data_dir),
        "target": target.describe(),
        "repository": repository,
        "backup_label": backup_label,
    }
    began = time.monotonic()
    try:
        session.restore(args, bset.timeouts.restore)
    except DrError as err:
        document.update(status="failed", error=err.message)
        ctx.record("pitr.restored", document)
        raise
    document.update(status="ok", seconds=round(time.monotonic() - began, 3))
    ctx.record("pitr.restored", document)
    return document
