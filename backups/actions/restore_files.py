"""Put a restic set's files back from its newest good run, verified against its manifest:
what a site-loss recovery does for a system of files (the report-message archive).

restic restores each file under `into` at its original absolute path (into/srv/...),
so the files never land on top of anything at the surviving site; the service there is
pointed at them. Every restored file is checked against the manifest's size and hash,
as the monthly restore test does; a difference fails the recovery with its list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backups import catalog
from backups.context import BackupContext
from backups.restore.files import restore_files
from orchestrator.errors import RestoreFailed


def restore_newest_files(ctx: BackupContext, into: Path) -> dict[str, Any]:
    session = ctx.session()
    run = catalog.last_good_run(catalog.runs(catalog.set_snapshots(session, ctx.backup_set.name)))
    if run is None:
        raise RestoreFailed(
            f"backup set {ctx.backup_set.name} has no good run in {session.repository.location}"
        )
    manifest = catalog.read_manifest(session, run)
    if manifest.files is None:
        raise RestoreFailed(f"run {run.run_id} of {ctx.backup_set.name} holds no files")
    into.mkdir(parents=True, exist_ok=True)
    outcome = restore_files(session, manifest.files, into)
    document = {
        "backup_set": ctx.backup_set.name,
        "run_id": run.run_id,
        "snapshot_time": run.time.isoformat(),
        "into": str(into),
        **outcome.summary(),
    }
    if outcome.problems:
        shown = "; ".join(outcome.problems[:5])
        raise RestoreFailed(f"restoring {ctx.backup_set.name} into {into}: {shown}")
    return document
