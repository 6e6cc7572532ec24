"""`dr backup prune SET`: apply the retention policy to whole runs, then `restic prune`.

restic's policy is applied to the manifests of good runs only (tag dr-status:ok), so that
a failed run can never take the place of a good one in a daily or monthly slot. Then:
  - a good run is kept if restic's policy keeps its manifest;
  - a partial or failed run is kept only while it is newer than the newest good run
    (until then it may be the best there is);
  - an unsealed run (died before its manifest) is kept only while newer than the newest
    good run, for the same reason.
Every snapshot of a run that is not kept is forgotten in one `restic forget ID...`.
"""

from __future__ import annotations

from typing import Any

from backups import catalog
from backups import manifest as mf
from backups.context import BackupContext
from backups.locks import backup_set_lock
from orchestrator.errors import UserInputError


def policy_of(ctx: BackupContext) -> dict[str, int]:
    policy = {k: v for k, v in ctx.backup_set.retention.model_dump().items() if v is not None}
    if not policy:
        raise UserInputError(
            f"backup set {ctx.backup_set.name!r} has no retention policy; add e.g. "
            "'retention: {keep_daily: 14}' to the inventory before pruning"
        )
    return policy


def prune_set(ctx: BackupContext) -> dict[str, Any]:
    bset = ctx.backup_set
    policy = policy_of(ctx)
    with backup_set_lock(bset.name):
        session = ctx.session()
        found = catalog.runs(catalog.set_snapshots(session, bset.name))
        good_tags = [
            f"{mf.TAG_SET}{bset.name}",
            f"{mf.TAG_PART}{mf.PART_MANIFEST}",
            f"{mf.TAG_STATUS}ok",
        ]
        groups = session.forget_policy_preview(policy, good_tags) if _any_good(found) else []
        kept_manifests = {snap.id for group in groups for snap in group.keep}
        newest_good = catalog.last_good_run(found)
        keep: list[catalog.BackupRun] = []
        drop: list[catalog.BackupRun] = []
        for run in found:
            if run.status == "ok":
                kept = run.manifest is not None and run.manifest.id in kept_manifests
            else:
                kept = newest_good is None or run.time > newest_good.time
            (keep if kept else drop).append(run)
        doomed = [snap.id for run in drop for snap in run.snapshots]
        session.forget_ids(doomed)
        pruned = session.prune() if doomed else []
        document = {
            "repository": session.repository.location,
            "policy": policy,
            "kept_runs": [run.run_id for run in keep],
            "removed_runs": [run.run_id for run in drop],
            "removed_snapshots": len(doomed),
            "prune": pruned,
        }
        ctx.record("backup.pruned", document)
    return document


def _any_good(found: list[catalog.BackupRun]) -> bool:
    return any(run.status == "ok" for run in found)
