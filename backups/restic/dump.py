"""`restic dump SNAPSHOT PATH`: one stored file to stdout (a dump, or a manifest)."""

from __future__ import annotations


def build_dump(snapshot_id: str, path: str) -> list[str]:
    return ["dump", "--", snapshot_id, path]
