"""What the console shows, as plain values (JSON for the live stream, context for pages).

Every figure comes from the module that owns its rule: deadlines from
`incidents/deadlines.py`, backup ages and restore tests from `scheduler/monitoring.py`
(the same numbers node_exporter gets), steps and markers from the journal.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.engine.discovery import RunbookRegistry, dirs_from_environment
from orchestrator.errors import DrError
from orchestrator.incidents import IncidentStore
from orchestrator.incidents.deadlines import open_deadlines
from orchestrator.runbook import Marker
from orchestrator.scheduler import monitoring

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.journal import Journal
    from orchestrator.journal.records import RunRecord

LIVE_STATUSES = ("running", "waiting", "paused", "interrupted")
RECENT = timedelta(hours=1)
# Reading each repository's newest snapshot goes over the network: not every second.
BACKUPS_EVERY_SECONDS = 60.0
SNAPSHOT_EVERY_SECONDS = 1.0


def incidents(journal: Journal, inventory: Inventory, now: datetime) -> list[dict[str, Any]]:
    store = IncidentStore(journal)
    try:
        found = store.incidents(status="open")
    finally:
        store.dispose()
    return [
        {
            "id": incident.id,
            "level": incident.level,
            "grade": incident.grade,
            "summary": incident.summary,
            "started_at": incident.started_at.isoformat(),
            "deadlines": [
                {
                    "key": d.key,
                    "due": d.due.isoformat(),
                    "what_zh": d.what[0],
                    "what_en": d.what[1],
                    "owed_by": list(d.owed_by),
                }
                for d in sorted(open_deadlines(incident, inventory, now), key=lambda d: d.due)
            ],
        }
        for incident in found
        if incident.inventory_name == inventory.name
    ]


def runs(
    journal: Journal, inventory: Inventory, registry: RunbookRegistry, now: datetime
) -> list[dict[str, Any]]:
    """Runs still going or waiting for a person, and those that ended within the hour
    (the duty room sees how it ended), with their steps and RTO clock."""
    since = (now - RECENT).isoformat()
    shown = [
        r
        for r in journal.list_runs(limit=50)
        if r.inventory_name == inventory.name
        and (r.status in LIVE_STATUSES or (r.finished_at or "") >= since)
    ]
    return [run_view(journal, inventory, registry, r) for r in shown]


def run_view(
    journal: Journal, inventory: Inventory, registry: RunbookRegistry, run: RunRecord
) -> dict[str, Any]:
    steps = [
        {
            "id": s.step_id,
            "host": s.host,
            "kind": s.kind,
            "status": s.status,
            "started_at": s.started_at,
            "finished_at": s.finished_at,
        }
        for s in journal.steps(run.id)
    ]
    return {
        "id": run.id,
        "runbook": run.runbook,
        "mode": run.mode,
        "status": run.status,
        "started_by": run.started_by,
        "started_at": run.started_at,
        "incident_id": run.incident_id,
        "steps": steps,
        "rto": _rto_clock(journal, inventory, registry, run),
    }


def _rto_clock(
    journal: Journal, inventory: Inventory, registry: RunbookRegistry, run: RunRecord
) -> dict[str, Any]:
    """From the loss (the marker, else the run's start) to now or to the restoration."""
    lost = restored = None
    for event in journal.events(run.id, kinds=("marker",)):
        marker, at = (event.data or {}).get("marker"), (event.data or {}).get("at")
        if marker == Marker.SERVICE_LOST.value and lost is None:
            lost = at
        if marker == Marker.SERVICE_RESTORED.value:
            restored = at
    return {
        "since": lost or run.started_at,
        # The clock stops at the restoration, or when the run ended without one.
        "stopped_at": restored or run.finished_at,
        "target_seconds": _rto_target(inventory, registry, run.runbook),
    }


def _rto_target(inventory: Inventory, registry: RunbookRegistry, name: str) -> float | None:
    try:
        system = registry.get(name).system
    except DrError:
        return None
    target = inventory.target_for(system) if system else None
    return float(target.rto) if target is not None else None


def backup_sets(inventory: Inventory, journal: Journal, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for metrics in monitoring.collect(inventory, journal, now=now):
        values = metrics.values
        age = values.get("dr_backup_newest_snapshot_age_seconds")
        if age is None and metrics.repositories:
            ages = [
                r["dr_pitr_newest_wal_age_seconds"]
                for r in metrics.repositories.values()
                if "dr_pitr_newest_wal_age_seconds" in r
            ]
            age = min(ages) if ages else None
        tested = values.get("dr_restore_test_last_timestamp_seconds")
        rows.append(
            {
                "name": metrics.backup_set,
                "age_seconds": age,
                "as_of": now.isoformat(),
                "rpo_seconds": values.get("dr_backup_rpo_target_seconds"),
                "repository_up": values.get("dr_backup_repository_up", 1) == 1,
                "restore_test_at": (
                    datetime.fromtimestamp(tested, UTC).isoformat() if tested else None
                ),
                "restore_test_ok": (
                    values["dr_restore_test_last_success"] == 1
                    if "dr_restore_test_last_success" in values
                    else None
                ),
            }
        )
    return rows


class Board:
    """The whole picture, with the slow part (backup repositories) cached."""

    def __init__(self, journal: Journal, inventory: Inventory) -> None:
        self.journal = journal
        self.inventory = inventory
        self.registry = RunbookRegistry.discover(dirs_from_environment())
        self._backups: list[dict[str, Any]] = []
        self._backups_read = -BACKUPS_EVERY_SECONDS
        self._backups_lock = threading.Lock()
        self._snapshot: dict[str, Any] = {}
        self._taken_at = -SNAPSHOT_EVERY_SECONDS
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, Any]:
        """The board as of now; every open page's stream shares one reading a second."""
        with self._lock:
            if time.monotonic() - self._taken_at < SNAPSHOT_EVERY_SECONDS:
                return self._snapshot
        now = datetime.now(UTC)
        taken = {
            "now": now.isoformat(),
            "incidents": incidents(self.journal, self.inventory, now),
            "runs": runs(self.journal, self.inventory, self.registry, now),
            "backups": self._cached_backups(now),
        }
        with self._lock:
            self._snapshot, self._taken_at = taken, time.monotonic()
        return taken

    def _cached_backups(self, now: datetime) -> list[dict[str, Any]]:
        with self._backups_lock:
            if time.monotonic() - self._backups_read >= BACKUPS_EVERY_SECONDS:
                self._backups = backup_sets(self.inventory, self.journal, now)
                self._backups_read = time.monotonic()
            return self._backups
