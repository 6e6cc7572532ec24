"""`restic copy`: snapshots from the source repository (RESTIC_FROM_*) to the target.

The target is the repository of the environment (RESTIC_REPOSITORY); 0.14 already has
--from-repo and its RESTIC_FROM_* variables, so the source password never needs argv.
"""

from __future__ import annotations

import re

_COPIED = re.compile(r"^snapshot ([0-9a-f]{8}) of ", re.MULTILINE)


def build_copy(snapshot_ids: list[str]) -> list[str]:
    if not snapshot_ids:
        raise ValueError("no snapshot ids to copy")
    return ["copy", "--", *snapshot_ids]


def parse_copy(output: str) -> list[str]:
    """Short ids of the source snapshots restic reported copying (or found already there)."""
    return _COPIED.findall(output)
