"""Restore a run's files part into a scratch directory and check it against the manifest.

Every file the manifest lists must come back with the same size and SHA-256, and every
file that came back must be in the manifest: a file the snapshot holds but the manifest
does not is as much a disagreement as a missing one, so it is reported, never ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from backups import manifest as mf
from backups.restic.restore import build_restore, found_damage, parse_restore_errors
from backups.session import RepositorySession

_SHOWN = 10  # per kind of problem; the counts say how many more there were


@dataclass
class FilesOutcome:
    expected: int = 0
    verified: int = 0
    bytes: int = 0
    restore_seconds: float = 0.0
    verify_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "expected": self.expected,
            "verified": self.verified,
            "bytes": self.bytes,
            "problems": self.problems,
        }


def restore_files(session: RepositorySession, part: mf.FilesPart, target: Path) -> FilesOutcome:
    outcome = FilesOutcome(expected=len(part.files))
    if part.snapshot_id is None:
        outcome.problems.append("the manifest names no snapshot for the files")
        return outcome
    started = time.monotonic()
    result = session.restic(
        build_restore(part.snapshot_id, str(target)),
        what="restic restore",
        accept=lambda r: found_damage(r.exit_code, r.stderr),
    )
    outcome.restore_seconds = time.monotonic() - started
    if result.exit_code != 0:
        errors = parse_restore_errors(result.stderr)
        outcome.problems.append(
            f"restic restore of snapshot {part.snapshot_id} failed: " + " | ".join(errors[:_SHOWN])
        )
        return outcome
    started = time.monotonic()
    _verify(part, target, outcome)
    outcome.verify_seconds = time.monotonic() - started
    return outcome


def _verify(part: mf.FilesPart, target: Path, outcome: FilesOutcome) -> None:
    # restic restores /a/b to TARGET/a/b; hash_tree gives TARGET-prefixed paths.
    prefix = str(target)
    restored = {e.path[len(prefix) :]: e for e in mf.hash_tree([prefix])}
    missing, changed = [], []
    for entry in part.files:
        got = restored.pop(entry.path, None)
        if got is None:
            missing.append(entry.path)
        elif entry.sha256 is None:
            changed.append(f"{entry.path} (unreadable when backed up)")
        elif got.size != entry.size or got.sha256 != entry.sha256:
            changed.append(
                f"{entry.path} (manifest: {entry.size} bytes sha256 {entry.sha256[:12]}, "
                f"restored: {got.size} bytes sha256 {(got.sha256 or '?')[:12]})"
            )
        else:
            outcome.verified += 1
            outcome.bytes += got.size
    extra = sorted(restored)
    for label, items in (
        ("missing from the restore", missing),
        ("restored with other content than the manifest records", changed),
        ("restored but not in the manifest", extra),
    ):
        if items:
            shown = ", ".join(items[:_SHOWN])
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            outcome.problems.append(f"{len(items)} file(s) {label}: {shown}{more}")
