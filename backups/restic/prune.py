"""`restic prune`: no JSON in any version we support, so only the command is built and
the last lines of its text kept for the journal."""

from __future__ import annotations


def build_prune() -> list[str]:
    return ["prune"]


def parse_prune(output: str) -> list[str]:
    """The lines worth recording ("total prune: ...", "remaining: ..."), in order."""
    keys = ("to delete", "total prune", "remaining", "unused size after prune", "done")
    return [line.strip() for line in output.splitlines() if line.strip().startswith(keys)]
