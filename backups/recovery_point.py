"""A backup set's recovery point and how old it is: the one RPO clock.

The recovery point is the newest good run in the set's repository, because that is what
a restore would use; its age is the data a failure now would lose. `dr backup list`, the
scheduler's RPO watchdog and the Prometheus textfile all read the clock here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backups import catalog
from backups.catalog import BackupRun
from backups.session import RepositorySession
from orchestrator import verdicts
from orchestrator.inventory import BackupSet


@dataclass(frozen=True)
class RecoveryPoint:
    backup_set: str
    newest_good: BackupRun | None  # None: the repository holds no good run
    age_seconds: float | None
    target_seconds: int | None  # the set's RPO

    @property
    def met(self) -> bool | None:
        """No good run meets no target; no target, no verdict."""
        return verdicts.met(self.age_seconds, self.target_seconds)


def recovery_point(runs: list[BackupRun], bset: BackupSet, now: datetime) -> RecoveryPoint:
    """The clock over runs already read (`catalog.runs`), at `now`."""
    good = catalog.last_good_run(runs)
    # A run stamped after `now` (a host clock ahead of ours) counts as just made, not as
    # negative data loss.
    age = None if good is None else max(0.0, (now - good.time).total_seconds())
    return RecoveryPoint(bset.name, good, age, bset.rpo)


def read_recovery_point(
    session: RepositorySession, bset: BackupSet, now: datetime
) -> RecoveryPoint:
    """The clock read from the repository; raises the session's DrError when it cannot."""
    return recovery_point(catalog.runs(catalog.set_snapshots(session, bset.name)), bset, now)
