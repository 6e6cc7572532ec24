"""What a repository holds for a backup set, as runs rather than loose snapshots.

The API later parts build on: the restore test picks `last_good_run()` and reads its
manifest; the RPO watchdog compares `last_good_run().time` with the set's RPO target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from backups import manifest as mf
from backups.restic.snapshots import Snapshot
from backups.session import RepositorySession

UNSEALED = "unsealed"  # snapshots of a run that wrote no manifest: never trust them


@dataclass
class BackupRun:
    run_id: str
    time: datetime
    manifest: Snapshot | None
    parts: dict[str, Snapshot] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.manifest is None:
            return UNSEALED
        return self.manifest.tag_value(mf.TAG_STATUS) or UNSEALED

    @property
    def snapshots(self) -> list[Snapshot]:
        return [*self.parts.values(), *([self.manifest] if self.manifest else [])]

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "time": self.time.isoformat(),
            "status": self.status,
            "manifest": self.manifest.id if self.manifest else None,
            "parts": {name: snap.id for name, snap in sorted(self.parts.items())},
        }


def set_snapshots(session: RepositorySession, backup_set: str) -> list[Snapshot]:
    return session.snapshots([f"{mf.TAG_SET}{backup_set}"])


def runs(snapshots: list[Snapshot]) -> list[BackupRun]:
    """Snapshots grouped by their run, oldest first; snapshots without a run tag (made
    by hand, or by another tool) are left out."""
    by_run: dict[str, BackupRun] = {}
    for snap in snapshots:
        run_id = snap.tag_value(mf.TAG_RUN)
        part = snap.tag_value(mf.TAG_PART)
        if run_id is None or part is None:
            continue
        run = by_run.setdefault(run_id, BackupRun(run_id, snap.time, None))
        run.time = min(run.time, snap.time)
        if part == mf.PART_MANIFEST:
            run.manifest = snap
        else:
            run.parts[part] = snap
    return sorted(by_run.values(), key=lambda r: (r.time, r.run_id))


def last_good_run(all_runs: list[BackupRun]) -> BackupRun | None:
    good = [r for r in all_runs if r.status == "ok"]
    return good[-1] if good else None


def read_manifest(session: RepositorySession, run: BackupRun) -> mf.Manifest:
    if run.manifest is None:
        raise ValueError(f"run {run.run_id} has no manifest")
    return mf.manifest_from_json(session.read_file(run.manifest.id, mf.PATH_IN_SNAPSHOT))
