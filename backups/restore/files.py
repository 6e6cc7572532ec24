"""Restore a run's files part into a scratch directory and check it against the manifest.

Every file the manifest lists must come back, with the same size and hash (by the
algorithm the manifest names: BLAKE3, or SHA-256 in manifests of before), and every
file that came back must be in the manifest: a file the snapshot holds but the manifest
does not is as much a disagreement as a missing one, so it is reported, never ignored.
The one exception is a file the manifest marks as changed while it was backed up (see
`backups.snapshot_files`): it must come back, but the snapshot may hold another version
than the one dr hashed, so a difference is counted as "changed while backed up", not
damage. restic itself checks every blob it restores against its hash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from backups import digests
from backups import manifest as mf
from backups.restic.restore import build_restore, found_damage, parse_restore_errors
from backups.session import RepositorySession
from backups.snapshot_files import as_restic_name

_SHOWN = 10  # per kind of problem; the counts say how many more there were


@dataclass
class FilesOutcome:
    expected: int = 0  # files the snapshot holds, by its manifest
    verified: int = 0  # restored with the size and hash the manifest records
    bytes: int = 0
    restore_seconds: float = 0.0
    verify_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    # Restored, changed while backed up, and not the version dr hashed (or not hashed).
    changed_while_backed_up: list[str] = field(default_factory=list)
    vanished_while_backed_up: int = 0  # hashed by dr, gone before restic stored them

    def summary(self) -> dict[str, object]:
        return {
            "expected": self.expected,
            "verified": self.verified,
            "changed_while_backed_up": {
                "count": len(self.changed_while_backed_up),
                "shown": self.changed_while_backed_up[:_SHOWN],
            },
            "vanished_while_backed_up": self.vanished_while_backed_up,
            "bytes": self.bytes,
            "problems": self.problems,
        }


def restore_files(session: RepositorySession, part: mf.FilesPart, target: Path) -> FilesOutcome:
    outcome = FilesOutcome(expected=len(part.files), vanished_while_backed_up=len(part.vanished))
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
    algorithm = part.hash_algorithm
    restored = {e.path[len(prefix) :]: e for e in mf.hash_tree([prefix], algorithm=algorithm)}
    name = digests.label(algorithm)
    missing, changed = [], []
    for entry in part.files:
        got = restored.pop(entry.path, None) or _by_restic_name(entry.path, restored)
        if got is None:
            missing.append(entry.path)
            continue
        outcome.bytes += got.size
        if entry.digest is not None and (got.size, got.digest) == (entry.size, entry.digest):
            outcome.verified += 1
        elif entry.changed_during_backup:
            outcome.changed_while_backed_up.append(entry.path)
        elif entry.digest is None:
            changed.append(f"{entry.path} (unreadable when backed up)")
        else:
            changed.append(
                f"{entry.path} (manifest: {entry.size} bytes {name} {entry.digest[:12]}, "
                f"restored: {got.size} bytes {name} {(got.digest or '?')[:12]})"
            )
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


def _by_restic_name(path: str, restored: dict[str, mf.HashedFile]) -> mf.HashedFile | None:
    """A file the manifest names as restic showed it, with U+FFFD for bytes that are not
    UTF-8 (a file that appeared while backed up), restored under its own bytes."""
    if "\ufffd" not in path:
        return None
    for name in [n for n in restored if not n.isascii()]:
        if as_restic_name(name) == path:
            return restored.pop(name)
    return None
