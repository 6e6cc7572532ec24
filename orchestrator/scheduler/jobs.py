"""What the scheduler runs. APScheduler stores each job as a reference to one of these
functions plus the backup set's name, so a job survives a restart in the database.

Everything else a run needs (inventory, journal, textfile directory) is passed in by
the daemon running it, as `env`, not stored with the job: two daemons on one database
may have their own files, and a stored path would be whichever daemon wrote it last.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backups.actions.run import run_backup
from backups.context import BackupContext
from backups.recovery_point import read_recovery_point
from orchestrator.errors import DrError
from orchestrator.incidents.tick import tick
from orchestrator.inventory import BackupSet, Inventory, load_inventory
from orchestrator.journal import Journal
from orchestrator.scheduler import monitoring

log = logging.getLogger(__name__)

BACKUP = "orchestrator.scheduler.jobs:backup"
RESTORE_TEST = "orchestrator.scheduler.jobs:restore_test"
RPO_WATCHDOG = "orchestrator.scheduler.jobs:rpo_watchdog"
TEXTFILE = "orchestrator.scheduler.jobs:export_textfile"
INCIDENT_TICK = "orchestrator.scheduler.jobs:incident_tick"

# Imported by name when a restore test runs, so the scheduler works (and its other jobs
# run) even where the restore test module is missing or broken. Called with the set's
# BackupContext (journal attached); it records its own `restore_test.finished` event.
RESTORE_TEST_FUNCTION = "backups.actions.restore_test:restore_test"


@dataclass(frozen=True)
class JobEnvironment:
    inventory_path: Path
    db_url: str
    textfile_dir: Path
    restore_test_function: str = RESTORE_TEST_FUNCTION

    def inventory(self) -> Inventory:
        # Read at every run: an edited inventory (a new path, a new RPO) takes effect
        # without restarting the daemon; new schedules need a restart.
        return load_inventory(self.inventory_path)

    def journal(self) -> Journal:
        return Journal(self.db_url)


def backup(set_name: str, *, env: JobEnvironment | None = None) -> str:
    env = _given(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        ctx = BackupContext.for_set(inventory, set_name, journal=journal)
        result = run_backup(ctx)
        status = result.status if result.succeeded else f"{result.status}: {result.errors}"
        log.info("backup of %s: %s", set_name, status)
        return result.status
    except DrError as err:
        log.error("backup of %s failed: %s", set_name, err.message)
        return "failed"
    finally:
        _export_quietly(inventory, journal, env)
        journal.close()


def restore_test(set_name: str, *, env: JobEnvironment | None = None) -> Any:
    env = _given(env)
    module, _, name = env.restore_test_function.partition(":")
    run: Callable[..., Any] = getattr(importlib.import_module(module), name)
    inventory, journal = env.inventory(), env.journal()
    try:
        return run(BackupContext.for_set(inventory, set_name, journal=journal))
    finally:
        _export_quietly(inventory, journal, env)
        journal.close()


def rpo_watchdog(
    *, env: JobEnvironment | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Journal an `rpo.alert` for each set whose newest good run is older than its rpo,
    and `rpo.recovered` once an alerted set meets it again.

    One alert per breach (same newest good run, or still none): it is not repeated every
    few minutes; notifications and their escalation come with incidents."""
    env = _given(env)
    inventory, journal = env.inventory(), env.journal()
    moment = now or datetime.now(UTC)
    try:
        open_breaches = _open_breaches(journal)
        alerts = []
        for bset in inventory.restic_sets:
            alert = _check_rpo(inventory, bset, moment)
            alerted = open_breaches.get(bset.name, set())
            if alert is None:
                if alerted:
                    log.info("RPO met again: %s", bset.name)
                    journal.append("rpo.recovered", data={"backup_set": bset.name})
                continue
            if alert["newest_run"] in alerted:
                continue
            log.warning("RPO alert: %s", alert["message"])
            journal.append("rpo.alert", data=alert)
            alerts.append(alert)
        return alerts
    finally:
        journal.close()


def export_textfile(*, env: JobEnvironment | None = None) -> str:
    env = _given(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        return str(monitoring.export(inventory, journal, env.textfile_dir))
    finally:
        journal.close()


def incident_tick(*, env: JobEnvironment | None = None) -> dict[str, Any]:
    """Escalate open incidents by the time rules and send the notices they owe."""
    env = _given(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        report = tick(journal, inventory, datetime.now(UTC))
        for step in report.escalations:
            log.warning(
                "incident %s raised to %s (%s)", step["incident"], step["to"], step["cause"]
            )
        return {"escalations": len(report.escalations), "deliveries": len(report.deliveries)}
    finally:
        journal.close()


def _given(env: JobEnvironment | None) -> JobEnvironment:
    # `env` has a default only because APScheduler checks a job's signature against its
    # stored arguments; the executor always passes it.
    if env is None:
        raise RuntimeError("scheduler jobs are run by the daemon's executor, which passes env")
    return env


def _check_rpo(inventory: Inventory, bset: BackupSet, now: datetime) -> dict[str, Any] | None:
    if bset.rpo is None:
        return None
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


def _open_breaches(journal: Journal) -> dict[str, set[str | None]]:
    """Per set, the newest good runs already alerted on since the set last recovered."""
    open_: dict[str, set[str | None]] = {}
    for event in journal.events(kinds=("rpo.alert", "rpo.recovered")):
        name = str(event.data.get("backup_set", ""))
        if event.kind == "rpo.recovered":
            open_.pop(name, None)
        else:
            open_.setdefault(name, set()).add(event.data.get("newest_run"))
    return open_


def _export_quietly(inventory: Inventory, journal: Journal, env: JobEnvironment) -> None:
    # The metrics must never turn a finished backup into a failed job.
    try:
        monitoring.export(inventory, journal, env.textfile_dir)
    except Exception:
        log.exception("could not write the Prometheus textfile in %s", env.textfile_dir)
