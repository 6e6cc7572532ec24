"""Status facts: what a PostgreSQL server says about itself. They read, never change.

- the *status* of a running server: primary or standby (in recovery), and how much WAL a
  standby has received and replayed. One query printing one JSON line, so the text to
  parse is the same whether psql runs it over SSH on a production host or the drill
  lab's host script runs it in a namespace;
- the *control data* of a server, running or stopped (pg_controldata): the cluster state
  and the latest checkpoint, the old primary's last word after a clean shutdown;
- WAL positions (LSNs) as numbers, to compare them.

Each fact is its command (SQL or program arguments), its parser and its typed result.
A parser raises `UnreadableOutput` on text that is not its fact's; a program that did
not answer at all is the caller's business.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from orchestrator.postgresql.errors import UnreadableOutput

# ---- status of a running server ----------------------------------------------------

STATUS_SQL = (
    "SELECT json_build_object('in_recovery', pg_is_in_recovery(),"
    " 'receive_lsn', pg_last_wal_receive_lsn(), 'replay_lsn', pg_last_wal_replay_lsn(),"
    " 'last_replay_at', pg_last_xact_replay_timestamp(),"
    # The lag's facts (postgresql/lag.py). Each function raises on the other role, and
    # CASE evaluates only its chosen branch.
    " 'current_lsn', CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END,"
    " 'replay_paused', CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,"
    " 'synchronous_standby_names', current_setting('synchronous_standby_names'),"
    " 'checked_at', now())"
)


@dataclass(frozen=True)
class DatabaseStatus:
    """A server's role and replication position, as it reports them itself.

    A primary has no receive position; it keeps the replay position and last replayed
    commit time it had as a standby (the RPO evidence after a promotion)."""

    in_recovery: bool
    receive_lsn: str | None
    replay_lsn: str | None
    last_replay_at: datetime | None
    # A primary's own write position; a standby's paused replay; the primary's list of
    # standbys it waits for; the server's clock. None where a hand-written `db_status`
    # command does not print them (the lag then says what it could not measure).
    current_lsn: str | None = None
    replay_paused: bool | None = None
    synchronous_standby_names: str | None = None
    checked_at: datetime | None = None

    @property
    def is_primary(self) -> bool:
        return not self.in_recovery


def parse_status(output: str) -> DatabaseStatus:
    """The status from what `STATUS_SQL` printed (its last line: a login banner or a
    notice may come before it)."""
    try:
        data = json.loads(output.strip().splitlines()[-1])
        replayed, checked = data.get("last_replay_at"), data.get("checked_at")
        paused = data.get("replay_paused")
        return DatabaseStatus(
            in_recovery=_boolean(data["in_recovery"]),
            receive_lsn=data.get("receive_lsn"),
            replay_lsn=data.get("replay_lsn"),
            last_replay_at=datetime.fromisoformat(replayed) if replayed else None,
            current_lsn=data.get("current_lsn"),
            replay_paused=None if paused is None else _boolean(paused),
            synchronous_standby_names=data.get("synchronous_standby_names"),
            checked_at=datetime.fromisoformat(checked) if checked else None,
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise UnreadableOutput(f"no status JSON in {output[-200:]!r}") from None


def _boolean(value: object) -> bool:
    # Strict: bool("f") is True, and a hand-written command may print psql's t/f.
    if not isinstance(value, bool):
        raise ValueError(f"not a JSON boolean: {value!r}")
    return value


# ---- control data (pg_controldata) -------------------------------------------------

# The report's field names are translated under a non-English locale; ours reads English.
CONTROL_DATA_ENV = {"LC_ALL": "C"}


@dataclass(frozen=True)
class ControlData:
    """A server's last word about itself, readable while it is stopped."""

    state: str
    checkpoint_lsn: str

    @property
    def shut_down_cleanly(self) -> bool:
        # "shut down in recovery" is a standby's clean stop, not an old primary's.
        return self.state == "shut down"


def build_control_data(data_dir: str) -> list[str]:
    """pg_controldata's arguments for the cluster in `data_dir`."""
    return ["-D", data_dir]


def parse_control_data(report: str) -> ControlData:
    """The cluster state and latest checkpoint of a pg_controldata report."""
    fields = dict(line.split(":", 1) for line in report.splitlines() if ":" in line)
    state = fields.get("Database cluster state", "").strip()
    checkpoint = fields.get("Latest checkpoint location", "").strip()
    if not state or not checkpoint:
        raise UnreadableOutput(
            f"no cluster state / latest checkpoint in the pg_controldata report {report[-200:]!r}"
        )
    return ControlData(state, checkpoint)


# ---- WAL positions -------------------------------------------------------------------

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def wal_position(lsn: str) -> int:
    """A PostgreSQL LSN ("16/B374D848") as a byte position, for comparing."""
    match = _LSN.match(lsn.strip())
    if match is None:
        raise UnreadableOutput(f"{lsn!r} is not a PostgreSQL WAL position (LSN)")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)
