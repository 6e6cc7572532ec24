"""Promotion: a standby stops replaying WAL and becomes a writable primary, on a new
timeline.

pg_ctl waits (-w) until the server accepts writes, so what follows a promotion (moving
the VIP, starting the service) never meets a read-only database. pg_ctl refuses a server
that is not a standby, so callers read the status first: a promotion is never repeated.
The new timeline reaches the control file only at the next checkpoint, which matters to
whoever rewinds the old primary afterwards (`rewind.CHECKPOINT_SQL`).
"""

from __future__ import annotations

import math

# The file in a data directory that makes the cluster start as a standby; promotion
# removes it.
STANDBY_SIGNAL = "standby.signal"


def build_promote(data_dir: str, timeout: float) -> list[str]:
    """pg_ctl's arguments: promote the standby in `data_dir`, waiting up to `timeout`
    seconds until it accepts writes."""
    return ["promote", "-D", data_dir, "-w", "-t", str(max(1, math.ceil(timeout)))]
