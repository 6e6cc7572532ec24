"""The primary's last known WAL position: what the lag gate compares a standby with when
the primary itself no longer answers (Patroni's leader optime in the DCS, against which
a failover candidate is held by `maximum_lag_on_failover`).

Without it, a standby whose replication stream was cut minutes before the primary died
has replayed all it received, reads as caught up, and would be promoted without anybody
being asked. The scheduler's lag watch (scheduler/lag_watch.py) reads both databases of
each pair every `scheduler.lag_check_interval` and journals a `lag.sample`; since this
module's fields were added, a sample also keeps the positions (`sample_positions`): the
primary's name, its current write position and the time on its clock, and the
standby's receive and replay positions. `newest_position` finds, among a pair's
samples (newest first), the primary's last known position.

A sample counts when:
- it has the positions (samples from before they were recorded do not), and the
  primary answered then (whether the standby did or not);
- the roles were those the caller asks about: the same primary and standby. Walking back
  from the newest, a sample whose primary is the caller's standby ends the search: it and
  everything older belong to an earlier era (before a switchover or a cutover), and the
  LSNs of that era say nothing about what the standby now lacks;
- it is not older than `lookback(interval)` (the caller reads the journal since then).

The lookback is `max(3 × lag_check_interval, 2 h)`. Three intervals alone would cover a
gate that runs right after the primary died; a cutover usually starts later (someone
first tries to bring the primary back), and the samples taken after the death have no
primary position, so the last usable one is as old as the death. Two hours is about the
longest a credit union's cutover waits for that decision (its RTO budget). An older
sample is no danger to the verdict (the gate never takes less than the standby's own
reading), only to the text's honesty, so the bound keeps out positions from another
era and the text always says how old the position is.

The scheduler and the operator's `dr run` must write the same journal for this to work:
both name it with `--db` / `DR_DB` (journal/location.py `resolve_journal_url`; the
inventory's `journal:` section holds its key and anchors, not its URL), and the Ansible
role writes the scheduler's `DR_DB` from the operator's (`dr_records_db_url`). An
operator on another journal (the per-user SQLite default) finds no sample, and the gate
says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.journal.records import EventRecord
from orchestrator.postgresql.status import DatabaseStatus

SAMPLE_KIND = "lag.sample"
LOOKBACK_INTERVALS = 3
MIN_LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True)
class PrimaryPosition:
    """The primary's write position as the lag watch last read it."""

    primary: str
    standby: str
    lsn: str
    checked_at: datetime  # the primary's clock when it was read
    seq: int  # the journal event it came from

    def to_dict(self) -> dict[str, Any]:
        return {
            "primary": self.primary,
            "standby": self.standby,
            "lsn": self.lsn,
            "checked_at": self.checked_at.isoformat(),
            "journal_seq": self.seq,
        }


def sample_positions(
    primary: str | None,
    primary_status: DatabaseStatus | None,
    standby_status: DatabaseStatus | None,
) -> dict[str, Any]:
    """What a `lag.sample` keeps for a later gate (its `positions` field). Kept also
    when the standby does not answer: the primary's position is still its last known."""
    answered = primary_status if primary_status is not None and primary_status.is_primary else None
    return {
        "primary": primary if answered else None,
        "primary_current_lsn": answered.current_lsn if answered else None,
        "primary_checked_at": _iso(answered.checked_at) if answered else None,
        "standby_receive_lsn": standby_status.receive_lsn if standby_status else None,
        "standby_replay_lsn": standby_status.replay_lsn if standby_status else None,
        "standby_checked_at": _iso(standby_status.checked_at) if standby_status else None,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def lookback(lag_check_interval: float) -> timedelta:
    """How far back a sample still counts (see the module's docstring)."""
    return max(timedelta(seconds=LOOKBACK_INTERVALS * lag_check_interval), MIN_LOOKBACK)


def newest_position(
    samples_newest_first: Iterable[EventRecord], *, pair: str, primary: str, standby: str
) -> PrimaryPosition | None:
    """The newest usable sample's primary position for `pair` with these roles, or None."""
    for event in samples_newest_first:
        data = event.data
        if event.kind != SAMPLE_KIND or data.get("pair") != pair:
            continue
        if data.get("primary") == standby or data.get("standby") == primary:
            return None  # the roles were the other way round: an earlier era from here on
        position = _position_of(event, primary=primary, standby=standby)
        if position is not None:
            return position
    return None


def _position_of(event: EventRecord, *, primary: str, standby: str) -> PrimaryPosition | None:
    positions = event.data.get("positions")
    if not isinstance(positions, dict):
        return None  # a sample from before the positions were recorded
    # A standby that did not answer then (None) leaves the primary's position standing:
    # that host answered as the primary, so the roles were these.
    if positions.get("primary") != primary or event.data.get("standby") not in (standby, None):
        return None
    lsn, checked = positions.get("primary_current_lsn"), positions.get("primary_checked_at")
    if not isinstance(lsn, str) or not isinstance(checked, str):
        return None
    try:
        checked_at = datetime.fromisoformat(checked)
    except ValueError:
        return None
    if checked_at.tzinfo is None:
        return None  # cannot be set against the standby's clock
    return PrimaryPosition(primary, standby, lsn, checked_at, event.seq)
