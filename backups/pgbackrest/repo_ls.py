"""`repo-ls --output=json`: files in a repository, with their sizes and times.

`info` names the newest WAL segment a repository holds, not when it arrived. A stored
segment's modification time is when pgBackRest wrote it there, which is no earlier
than the last transaction in it: so the newest segment's time is the upper end of the
window a point-in-time recovery can reach from that repository (and what an RPO
watchdog must watch). Segments live in archive/STANZA/ARCHIVE-ID/ plus the first 16
hex digits of their name, as NAME-SHA1[.gz|.lz4|...].
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

_SEGMENT = re.compile(r"^[0-9A-F]{24}$")


@dataclass(frozen=True)
class StoredFile:
    name: str
    type: str  # file, path or link
    size: int
    time: datetime | None


def segment_directory(stanza: str, archive_id: str, segment: str) -> str:
    if not _SEGMENT.match(segment):
        raise ValueError(f"{segment!r} is not a WAL segment name")
    return f"archive/{stanza}/{archive_id}/{segment[:16]}"


def build_segment_listing(stanza: str, archive_id: str, segment: str, repository: int) -> list[str]:
    """List the stored copies of one WAL segment (normally one)."""
    return [
        "repo-ls",
        segment_directory(stanza, archive_id, segment),
        f"--repo={repository}",
        "--output=json",
        f"--filter=^{segment}-",
    ]


def parse_repo_ls(output: str) -> list[StoredFile]:
    data = json.loads(output or "{}")
    return [
        StoredFile(
            name=str(name),
            type=str(item.get("type", "")),
            size=int(item.get("size", 0)),
            time=datetime.fromtimestamp(item["time"], UTC) if "time" in item else None,
        )
        for name, item in data.items()
        if name != "."
    ]


def newest_time(files: list[StoredFile]) -> datetime | None:
    times = [f.time for f in files if f.type == "file" and f.time is not None]
    return max(times) if times else None
