"""Which base backup a run takes when nobody says: the one whose schedule fired last.

A set schedules full backups (say Sunday 01:00) and differential ones (the other days
at 01:00). A run started by the scheduler, or by hand a little after, takes the kind
whose cron expression fired most recently; a full wins a tie (both at the same moment).
With one schedule that is the kind; with none, a differential, which pgBackRest turns
into a full when the repository has no full backup yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from backups.pgbackrest.backup import BackupType
from orchestrator.inventory.pitr_sets import PitrSchedule
from orchestrator.scheduler.cron import to_trigger

# Looked back in growing steps, so that a schedule every few seconds (drills) and a
# monthly one both find their last firing without stepping through a month of seconds.
_LOOKBACK = (
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=370),
)
_MAX_STEPS = 5000


def choose_type(schedule: PitrSchedule, now: datetime, timezone: str) -> tuple[BackupType, str]:
    """The kind of backup to take now, and why (for the journal)."""
    schedules: list[tuple[BackupType, str | None]] = [
        ("full", schedule.full),
        ("diff", schedule.diff),
    ]
    fired: dict[BackupType, datetime] = {}
    for kind, cron in schedules:
        last = last_firing(cron, now, timezone) if cron is not None else None
        if last is not None:
            fired[kind] = last
    if not fired:
        return "diff", "no schedule has fired: differential (full if there is none yet)"
    kind = max(fired, key=lambda k: (fired[k], k == "full"))
    return kind, f"the {kind} schedule fired last, at {fired[kind].isoformat()}"


def last_firing(cron: str, now: datetime, timezone: str) -> datetime | None:
    """When `cron` last fired at or before `now` (within about a year), else None."""
    trigger = to_trigger(cron, timezone)
    for span in _LOOKBACK:
        moment = trigger.get_next_fire_time(None, now - span)
        last = None
        for _ in range(_MAX_STEPS):
            if moment is None or moment > now:
                break
            last = moment
            moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        if last is not None:
            return last
    return None
