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
from orchestrator.errors import DrError
from orchestrator.incidents.tick import tick
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.journal import Journal
from orchestrator.journal.key import load_key
from orchestrator.scheduler import job_alerts, monitoring, rpo_watch

log = logging.getLogger(__name__)

BACKUP = "orchestrator.scheduler.jobs:backup"
RESTORE_TEST = "orchestrator.scheduler.jobs:restore_test"
RPO_WATCHDOG = "orchestrator.scheduler.jobs:rpo_watchdog"
TEXTFILE = "orchestrator.scheduler.jobs:export_textfile"
INCIDENT_TICK = "orchestrator.scheduler.jobs:incident_tick"
ANCHOR_JOURNAL = "orchestrator.scheduler.jobs:anchor_journal_head"

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
        # With the journal key (DR_JOURNAL_KEY, the inventory's journal.key, or the
        # default file): the daemon's events are keyed like the runs' (journal/key.py).
        return Journal(self.db_url, load_key(self.inventory().journal.key))


def backup(set_name: str, *, env: JobEnvironment | None = None) -> str:
    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    job_id = f"backup:{set_name}"
    try:
        with job_alerts.reported(journal, inventory, job_id, "backup", set_name) as run:
            try:
                ctx = BackupContext.for_set(inventory, set_name, journal=journal)
                result = run_backup(ctx)
            except DrError as err:
                log.error("backup of %s failed: %s", set_name, err.message)
                run.failed(err.message)
                return "failed"
            status = result.status if result.succeeded else f"{result.status}: {result.errors}"
            log.info("backup of %s: %s", set_name, status)
            # A partial run, a failed copy or a failed hook is a failure to be told of.
            run.done(result.succeeded, "" if result.succeeded else status)
            return result.status
    finally:
        export_quietly(inventory, journal, env)
        journal.close()


def restore_test(set_name: str, *, env: JobEnvironment | None = None) -> Any:
    env = given_env(env)
    module, _, name = env.restore_test_function.partition(":")
    test: Callable[..., Any] = getattr(importlib.import_module(module), name)
    inventory, journal = env.inventory(), env.journal()
    job_id = f"restore-test:{set_name}"
    try:
        with job_alerts.reported(journal, inventory, job_id, "restore-test", set_name) as run:
            record = test(BackupContext.for_set(inventory, set_name, journal=journal))
            # The record says (backups.restore.record); a function that returns none (a
            # stand-in) passed by returning.
            outcome = getattr(record, "outcome", "passed")
            run.done(outcome == "passed", str(getattr(record, "cause", None) or outcome))
            return record
    finally:
        export_quietly(inventory, journal, env)
        journal.close()


def rpo_watchdog(
    *, env: JobEnvironment | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Journal an `rpo.alert` for each set (a pitr set: each repository) that breaks its
    rpo, and `rpo.recovered` once it meets it again (see `rpo_watch`)."""
    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        return rpo_watch.watch(inventory, journal, now or datetime.now(UTC))
    finally:
        journal.close()


def export_textfile(*, env: JobEnvironment | None = None) -> str:
    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        return str(monitoring.export(inventory, journal, env.textfile_dir))
    finally:
        journal.close()


def incident_tick(*, env: JobEnvironment | None = None) -> dict[str, Any]:
    """Escalate open incidents by the time rules and send the notices they owe."""
    env = given_env(env)
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


def anchor_journal_head(*, env: JobEnvironment | None = None) -> dict[str, Any]:
    """Write the journal's head to the inventory's anchor places (journal.anchors)."""
    from orchestrator.anchors.write import anchor_journal

    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        results = anchor_journal(journal, inventory)
        for r in results:
            if not r.ok:
                log.error("journal anchor to %s failed: %s", r.where, r.error)
        return {"anchored": sum(r.ok for r in results), "failed": sum(not r.ok for r in results)}
    finally:
        journal.close()


def given_env(env: JobEnvironment | None) -> JobEnvironment:
    # `env` has a default only because APScheduler checks a job's signature against its
    # stored arguments; the executor always passes it.
    if env is None:
        raise RuntimeError("scheduler jobs are run by the daemon's executor, which passes env")
    return env


def export_quietly(inventory: Inventory, journal: Journal, env: JobEnvironment) -> None:
    # The metrics must never turn a finished backup into a failed job.
    try:
        monitoring.export(inventory, journal, env.textfile_dir)
    except Exception:
        log.exception("could not write the Prometheus textfile in %s", env.textfile_dir)
