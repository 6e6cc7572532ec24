"""`restic ls --json SNAPSHOT`: the files a snapshot holds, one JSON line per node.

A second pass over the snapshot, so only a fallback: a backup's own `-v` lines name
every file as restic stores it (see backup.py). The first line describes the snapshot
(`struct_type: snapshot`); every other one is a node with its `type` and `path`.
"""

from __future__ import annotations

from typing import Any


def build_ls(snapshot_id: str) -> list[str]:
    return ["ls", "--json", "--", snapshot_id]


def listed_file(message: dict[str, Any]) -> str | None:
    """The path of a regular file's node line; None for any other line."""
    if message.get("struct_type") == "node" and message.get("type") == "file":
        return str(message.get("path", ""))
    return None
