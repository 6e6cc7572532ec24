"""Which moment the restore test restores to, and which base backup gets it there.

The moment lies in the tested repository's recovery window (from the end of its oldest
base backup, the first moment a copy is consistent, to the arrival of its newest WAL
segment) and within the test's period before now: at random, so that over the months
every part of the window (old WAL, new WAL, across a differential and a full) gets
proved, or where the operator says (`--to`). The base backup is pgBackRest's own choice
for a time target, named here so that the test knows which one it restored: the newest
whose backup ended before the moment.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.errors import RestoreTestFailed

# A moment right at the end of a base backup may lie before its consistency point,
# which PostgreSQL refuses as a target: keep this much after it.
_AFTER_BACKUP = timedelta(seconds=1)


@dataclass(frozen=True)
class BaseBackupRef:
    label: str
    type: str
    start: datetime
    stop: datetime


@dataclass(frozen=True)
class RecoveryWindow:
    repository: int
    location: str
    start: datetime
    end: datetime
    newest_wal_age_seconds: float
    backups: tuple[BaseBackupRef, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "location": self.location,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "newest_wal_age_seconds": self.newest_wal_age_seconds,
        }

    def backup_for(self, moment: datetime) -> BaseBackupRef:
        """The newest base backup that ended before `moment`."""
        usable = [b for b in self.backups if b.stop + _AFTER_BACKUP <= moment]
        if not usable:
            raise RestoreTestFailed(
                f"no base backup in repo{self.repository} ended before {moment.isoformat()}"
            )
        return max(usable, key=lambda b: b.stop)


def window_of(listing: dict[str, Any], repository: int) -> RecoveryWindow:
    """The window of one repository of a `dr backup list` document."""
    entries = {r["repository"]: r for r in listing["repositories"]}
    entry = entries.get(repository)
    if entry is None:
        raise RestoreTestFailed(
            f"restore_test.repository is {repository}, but the set has {len(entries)} repositories"
        )
    where = f"repo{repository} ({entry['location']})"
    if entry["error"] and entry["window"]["to"] is None:
        raise RestoreTestFailed(f"{where} cannot be read: {entry['error']}")
    if entry["window"]["from"] is None or entry["window"]["to"] is None:
        raise RestoreTestFailed(
            f"{where} has no recovery window yet: it needs a base backup and archived WAL "
            "(dr backup run)"
        )
    backups = tuple(
        BaseBackupRef(
            b["label"], b["type"], datetime.fromisoformat(b["start"]),
            datetime.fromisoformat(b["stop"]),
        )
        for b in entry["backups"]
    )  # fmt: skip
    return RecoveryWindow(
        repository=repository,
        location=entry["location"],
        start=datetime.fromisoformat(entry["window"]["from"]),
        end=datetime.fromisoformat(entry["window"]["to"]),
        newest_wal_age_seconds=float(entry["newest_wal_age_seconds"] or 0.0),
        backups=backups,
    )


@dataclass(frozen=True)
class ChosenPoint:
    moment: datetime
    how: str  # "random" or "given"
    lowest: datetime  # the range it was drawn from (or could have been)
    highest: datetime

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document.update({k: getattr(self, k).isoformat() for k in ("moment", "lowest", "highest")})
        return document


def choose_point(
    window: RecoveryWindow,
    *,
    now: datetime,
    period_seconds: int,
    given: datetime | None = None,
    rng: random.Random | None = None,
) -> ChosenPoint:
    lowest = max(window.start + _AFTER_BACKUP, now - timedelta(seconds=period_seconds))
    highest = window.end
    where = f"repo{window.repository}'s recovery window"
    if given is not None:
        if not window.start + _AFTER_BACKUP <= given <= highest:
            raise RestoreTestFailed(
                f"{given.isoformat()} is outside {where} ({window.start.isoformat()} to "
                f"{highest.isoformat()}): choose a moment inside it (dr backup list)"
            )
        return ChosenPoint(given, "given", window.start + _AFTER_BACKUP, highest)
    if lowest >= highest:
        raise RestoreTestFailed(
            f"{where} ({window.start.isoformat()} to {highest.isoformat()}) holds no moment "
            f"of the last {period_seconds}s (restore_test.period)"
        )
    span = (highest - lowest).total_seconds()
    offset = (rng or random.SystemRandom()).uniform(0, span)
    # Whole milliseconds: the moment is written into the journal and read by people.
    moment = lowest + timedelta(milliseconds=int(offset * 1000))
    return ChosenPoint(moment, "random", lowest, highest)
