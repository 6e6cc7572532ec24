"""pg_rewind: turn an old primary into a standby of the new one by copying only the
blocks that changed since their histories split, instead of the whole cluster.

Rewind needs the old primary stopped, the new primary's timeline written down (see
`CHECKPOINT_SQL`), and the WAL since the split still on the new primary; when it cannot
work (no cluster, no common history, WAL gone) a fresh base backup
(`replication.build_base_backup`) is the way, and the failure says why.
"""

from __future__ import annotations

from orchestrator.postgresql.replication import Upstream

# A just-promoted primary writes its new timeline to its control file only at its next
# checkpoint, and pg_rewind reads the source's timeline there: without one it sees "the
# same timeline" and refuses, or does nothing.
CHECKPOINT_SQL = "CHECKPOINT"


def build_rewind(data_dir: str, upstream: Upstream) -> list[str]:
    """pg_rewind's arguments: rewind the stopped cluster in `data_dir` onto `upstream`
    and leave it configured as its standby (standby.signal and primary_conninfo)."""
    return ["-D", data_dir, f"--source-server={upstream.conninfo}", "--write-recovery-conf"]


def failure_reason(stdout: str, stderr: str) -> str:
    """Why a rewind failed, in pg_rewind's own words: the last line it printed."""
    lines = (stderr or stdout).strip().splitlines()
    return lines[-1] if lines else "(no output)"
