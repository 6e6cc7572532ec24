"""`restic snapshots --json`: build; parse into Snapshot values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]

    def tag_value(self, prefix: str) -> str | None:
        """The rest of the first tag starting with `prefix` ("dr-run:" -> the run id)."""
        return next((t[len(prefix) :] for t in self.tags if t.startswith(prefix)), None)


def build_snapshots(tags: list[str] | None = None) -> list[str]:
    """All snapshots, or those carrying every tag in `tags`."""
    args = ["snapshots", "--json"]
    if tags:
        # One --tag with commas means "all of these" to restic.
        args += ["--tag", ",".join(tags)]
    return args


def parse_snapshots(output: str) -> list[Snapshot]:
    data = json.loads(output or "[]")
    # An empty repository prints "null" on some versions, "[]" on others.
    return [parse_snapshot(item) for item in data or []]


def parse_snapshot(item: dict[str, Any]) -> Snapshot:
    return Snapshot(
        id=str(item["id"]),
        short_id=str(item.get("short_id") or item["id"][:8]),
        time=parse_time(str(item["time"])),
        hostname=str(item.get("hostname", "")),
        paths=tuple(item.get("paths") or ()),
        tags=tuple(item.get("tags") or ()),
    )


def parse_time(text: str) -> datetime:
    """restic's RFC 3339 times carry nanoseconds, which datetime cannot hold: cut to µs."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
