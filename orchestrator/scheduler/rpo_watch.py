"""The RPO watchdog's judgement, for both kinds of backup set, and its memory of what it
has already said (the journal's `rpo.alert` and `rpo.recovered` events).

A restic set breaks its RPO when its newest good run is older than the target. A
`postgres-pitr` set is judged per repository on its newest archived WAL
(`backups.pitr.watchdog`), and each alert names the repository that fell behind.

One alert per breach: a restic set is alerted again only when its newest good run
changes (a new run that is already too old), a pitr repository only after it has
recovered. `rpo.recovered` names the repository for a pitr set, so one repository
catching up does not silence another that is still behind. Each alert and recovery also
goes to the breach's incident (`job_alerts`), which tells the roster.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from backups.context import BackupContext
from backups.recovery_point import read_recovery_point
from orchestrator.errors import DrError
from orchestrator.inventory import BackupSet, Inventory, PitrBackupSet
from orchestrator.journal import Journal
from orchestrator.scheduler import job_alerts

log = logging.getLogger(__name__)

# (backup set, repository number or None for the set as a whole)
BreachKey = tuple[str, int | None]


def watch(inventory: Inventory, journal: Journal, now: datetime) -> list[dict[str, Any]]:
    """Journal the new alerts and recoveries; return the new alerts."""
    open_breaches = open_breaches_in(journal)
    found: dict[BreachKey, dict[str, Any]] = {}
    for bset in inventory.restic_sets:
        if bset.rpo is not None and (alert := restic_alert(inventory, bset, now)) is not None:
            found[(bset.name, None)] = alert
    for pitr in inventory.pitr_sets:
        for alert in pitr_alerts(inventory, pitr, now) if pitr.rpo is not None else []:
            found[(pitr.name, alert.get("repository"))] = alert
    # A set no longer in the inventory is not said to have recovered.
    names = {s.name for s in inventory.backup_sets}
    alerts = []
    for key in open_breaches:
        if key not in found and key[0] in names:
            name, repository = key
            data: dict[str, Any] = {"backup_set": name}
            if repository is not None:
                data["repository"] = repository
            log.info("RPO met again: %s", data)
            journal.append("rpo.recovered", data=data)
            job_alerts.finish(journal, inventory, rpo_outcome(key, ok=True))
    for key, alert in found.items():
        if alert["newest_run"] in open_breaches.get(key, set()):
            continue
        log.warning("RPO alert: %s", alert["message"])
        journal.append("rpo.alert", data=alert)
        # The breach's incident (yellow): opened, or noted when it is already open.
        job_alerts.finish(journal, inventory, rpo_outcome(key, ok=False, reason=alert["message"]))
        alerts.append(alert)
    return alerts


def rpo_outcome(key: BreachKey, *, ok: bool, reason: str = "") -> job_alerts.JobOutcome:
    """A breach as the incidents see it: one subject per set, or per pitr repository."""
    name, repository = key
    subject = f"rpo:{name}" if repository is None else f"rpo:{name}:repo{repository}"
    return job_alerts.JobOutcome(subject, "rpo", ok, reason, name)


def restic_alert(inventory: Inventory, bset: BackupSet, now: datetime) -> dict[str, Any] | None:
    assert bset.rpo is not None
    base: dict[str, Any] = {"backup_set": bset.name, "target_seconds": bset.rpo}
    try:
        session = BackupContext.for_set(inventory, bset.name).session()
        point = read_recovery_point(session, bset, now)
    except DrError as err:
        # An unreadable repository proves no RPO at all: that is an alert too.
        message = f"{bset.name}: the repository cannot be read ({err.message})"
        return {**base, "newest_run": None, "age_seconds": None, "message": message}
    if point.met:
        return None
    if point.newest_good is None or point.age_seconds is None:
        message = f"{bset.name}: no good backup in the repository"
        return {**base, "newest_run": None, "age_seconds": None, "message": message}
    age = int(point.age_seconds)
    message = f"{bset.name}: newest good backup is {age}s old, RPO target {bset.rpo}s"
    return {**base, "newest_run": point.newest_good.run_id, "age_seconds": age, "message": message}


def pitr_alerts(inventory: Inventory, bset: PitrBackupSet, now: datetime) -> list[dict[str, Any]]:
    """One alert per repository over the RPO; one for the set when pgBackRest fails."""
    # Imported here: a scheduler with restic sets only never loads pgBackRest's layer.
    from backups.pitr.context import PitrContext
    from backups.pitr.watchdog import breaches, freshness

    assert bset.rpo is not None
    base: dict[str, Any] = {"backup_set": bset.name, "kind": bset.kind, "target_seconds": bset.rpo}
    try:
        found = freshness(PitrContext.for_set(inventory, bset.name), now=now)
    except DrError as err:
        message = f"{bset.name}: the archive cannot be read ({err.message})"
        return [{**base, "newest_run": None, "age_seconds": None, "message": message}]
    return [
        {
            **base,
            "repository": breach.repository,
            "location": breach.location,
            "newest_wal": breach.newest_wal,
            "age_seconds": None if breach.age_seconds is None else int(breach.age_seconds),
            # What makes an alert "the same breach": the repository, until it recovers.
            "newest_run": f"repo{breach.repository}",
            "message": f"{bset.name}: {breach.message}",
        }
        for breach in breaches(found, bset.rpo)
    ]


def open_breaches_in(journal: Journal) -> dict[BreachKey, set[str | None]]:
    """Per set (and repository), what was alerted on since it last recovered."""
    open_: dict[BreachKey, set[str | None]] = {}
    for event in journal.events(kinds=("rpo.alert", "rpo.recovered")):
        name = str(event.data.get("backup_set", ""))
        repository = event.data.get("repository")
        key = (name, repository if isinstance(repository, int) else None)
        if event.kind == "rpo.recovered":
            open_.pop(key, None)
            if key[1] is None:
                # A whole set recovered (a restic set; a pitr set whose archive was
                # unreadable as a whole).
                for other in [k for k in open_ if k[0] == name]:
                    open_.pop(other)
        else:
            open_.setdefault(key, set()).add(event.data.get("newest_run"))
    return open_
