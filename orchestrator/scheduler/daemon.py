"""`dr scheduler run`: APScheduler with its jobs in the journal's database.

Jobs persist in `scheduler_jobs` (SQLAlchemyJobStore), so a fire time that passed while
the daemon was down is still there on restart and runs once (coalesce) if it is at most
`misfire_grace` late. For that to hold, syncing the inventory's jobs into the store must
keep a stored job whose trigger is unchanged: replacing it would compute the next fire
time from now and silently drop the missed run.

A BackgroundScheduler started paused (rather than a BlockingScheduler) lets the store's
jobs be read and synced before anything can fire; the main thread then just waits for
SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from orchestrator.inventory import PitrBackupSet, load_inventory
from orchestrator.inventory.models import Inventory
from orchestrator.journal import Journal, resolve_journal_url
from orchestrator.scheduler import deadman, job_alerts, jobs, lag_watch, pitr_jobs
from orchestrator.scheduler.cron import to_trigger
from orchestrator.scheduler.exclusive import LeaseStore, new_holder
from orchestrator.scheduler.executor import LeasedExecutor
from orchestrator.scheduler.monitoring import default_textfile_dir
from orchestrator.service_watch.watcher import ServiceWatch

log = logging.getLogger(__name__)

JOBS_TABLE = "scheduler_jobs"
DEFAULT_FUNCTIONS = {
    "backup": jobs.BACKUP,
    "restore-test": jobs.RESTORE_TEST,
    "rpo-watchdog": jobs.RPO_WATCHDOG,
    "textfile": jobs.TEXTFILE,
    "incident-tick": jobs.INCIDENT_TICK,
    "anchor-journal": jobs.ANCHOR_JOURNAL,
    "pitr-backup": pitr_jobs.PITR_BACKUP,
    "pitr-check": pitr_jobs.PITR_CHECK,
    "pitr-verify": pitr_jobs.PITR_VERIFY,
    "pitr-restore-test": pitr_jobs.PITR_RESTORE_TEST,
    "lag-watch": lag_watch.LAG_WATCH,
}


@dataclass(frozen=True)
class JobSpec:
    id: str  # stable ("backup:credit"): a restart updates the job instead of adding one
    func: str
    trigger: BaseTrigger
    args: tuple[str, ...] = ()


def job_specs(
    inventory: Inventory, functions: Mapping[str, str] = DEFAULT_FUNCTIONS
) -> list[JobSpec]:
    """Every job the inventory asks for; a bad schedule raises UserInputError."""
    tz, settings = inventory.timezone, inventory.scheduler
    specs = []
    for bset in inventory.restic_sets:
        if bset.schedule is not None:
            trigger = to_trigger(bset.schedule, tz)
            specs.append(JobSpec(f"backup:{bset.name}", functions["backup"], trigger, (bset.name,)))
        trigger = to_trigger(settings.restore_test_schedule, tz)
        specs.append(
            JobSpec(f"restore-test:{bset.name}", functions["restore-test"], trigger, (bset.name,))
        )
    for pset in inventory.pitr_sets:
        specs += _pitr_specs(pset, inventory, functions)
    every = IntervalTrigger(seconds=settings.rpo_check_interval, timezone=tz)
    specs.append(JobSpec("rpo-watchdog", functions["rpo-watchdog"], every))
    specs.append(JobSpec("textfile", functions["textfile"], every))
    ticking = IntervalTrigger(seconds=settings.incident_tick_interval, timezone=tz)
    tick_function = _function(functions, "incident-tick")
    specs.append(JobSpec("incident-tick", tick_function, ticking))
    if lag_watch.watched(inventory):
        lagging = IntervalTrigger(seconds=settings.lag_check_interval, timezone=tz)
        specs.append(JobSpec("lag-watch", _function(functions, "lag-watch"), lagging))
    if inventory.journal.anchors and inventory.journal.anchor_every > 0:
        anchoring = IntervalTrigger(seconds=inventory.journal.anchor_every, timezone=tz)
        specs.append(JobSpec("anchor-journal", _function(functions, "anchor-journal"), anchoring))
    return specs


def _pitr_specs(
    pset: PitrBackupSet, inventory: Inventory, functions: Mapping[str, str]
) -> list[JobSpec]:
    """A postgres-pitr set's jobs: base backups on the union of its full and diff
    schedules (the job takes the kind that fired: pitr_jobs), check, verify, restore test."""
    tz, name = inventory.timezone, pset.name
    specs = []
    crons = [c for c in (pset.schedule.full, pset.schedule.diff) if c is not None]
    if crons:
        triggers = [to_trigger(cron, tz) for cron in crons]
        both = triggers[0] if len(triggers) == 1 else OrTrigger(triggers)
        specs.append(JobSpec(f"backup:{name}", _function(functions, "pitr-backup"), both, (name,)))
    test_schedule = pset.restore_test.schedule or inventory.scheduler.restore_test_schedule
    for job, cron in (
        ("check", pset.checks.check),
        ("verify", pset.checks.verify),
        ("restore-test", test_schedule),
    ):
        trigger = to_trigger(cron, tz)
        specs.append(
            JobSpec(f"{job}:{name}", _function(functions, f"pitr-{job}"), trigger, (name,))
        )
    return specs


def _function(functions: Mapping[str, str], key: str) -> str:
    # A caller's table (a test's) may name only the restic jobs it replaces.
    return functions.get(key, DEFAULT_FUNCTIONS[key])


class Daemon:
    def __init__(
        self,
        inventory_path: Path,
        *,
        db_url: str | None = None,
        textfile_dir: Path | None = None,
        functions: Mapping[str, str] = DEFAULT_FUNCTIONS,
        restore_test_function: str = jobs.RESTORE_TEST_FUNCTION,
        lease_ttl: float = 300,
    ) -> None:
        self.inventory = load_inventory(inventory_path)
        settings = self.inventory.scheduler
        self.url = resolve_journal_url(db_url)
        Journal(self.url).close()  # fail early, with the journal's message, on a bad URL
        self.specs = job_specs(self.inventory, functions)
        deadman.check_pings(self.inventory, [spec.id for spec in self.specs])
        directory = textfile_dir or settings.textfile_dir or default_textfile_dir()
        self.env = jobs.JobEnvironment(
            Path(inventory_path).absolute(), self.url, directory, restore_test_function
        )
        job_store = SQLAlchemyJobStore(engine=_engine(self.url), tablename=JOBS_TABLE)
        self.leases = LeaseStore(
            self.url, new_holder(), ttl_seconds=lease_ttl, also_create=[job_store.jobs_t]
        )
        self.scheduler = BackgroundScheduler(
            jobstores={"default": job_store},
            executors={"default": LeasedExecutor(self.env, self.leases)},
            job_defaults={
                "coalesce": True,  # many missed fire times: one run, not a burst
                "max_instances": 1,
                "misfire_grace_time": settings.misfire_grace,
            },
            timezone=self.inventory.timezone,
        )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)

    def start(self) -> None:
        self.scheduler.start(paused=True)
        self.sync_jobs()
        self.scheduler.resume()

    def stop(self, *, wait: bool = True) -> None:
        if self.scheduler.running:
            # APScheduler 3's shutdown lets its thread make one more pass over due jobs
            # after the executors are closed: a job due then fails to start yet is moved
            # to its next fire time, a missed run lost (`dr scheduler jobs` while the
            # daemon is down would do it). Without its store, that pass finds nothing.
            self.scheduler.remove_jobstore("default")
            self.scheduler.shutdown(wait=wait)
        self.leases.close()

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT; a job still running is let finish."""
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        self.start()
        log.info("scheduler running with %d jobs on %s", len(self.specs), self.describe())
        watching = self._start_service_watch(stopping)
        # Not one endless wait(): the kernel may deliver SIGTERM to a job's thread, and
        # Python runs the handler only when the main thread next wakes up; a main thread
        # blocked in wait() without a timeout then never stops (seen with two daemons).
        while not stopping.wait(timeout=0.5):
            pass
        log.info("stopping: waiting for running jobs to finish")
        if watching is not None:
            watching.join()
        self.stop(wait=True)

    def _start_service_watch(self, stopping: threading.Event) -> threading.Thread | None:
        """The service watch (orchestrator/service_watch) beside the jobs, if asked for:
        a loop of its own, not a job, since it probes every second or so."""
        settings = self.inventory.scheduler.service_watch
        if settings is None:
            return None
        journal = self.env.journal()
        watch = ServiceWatch(self.inventory, journal, settings)
        for unwatched in watch.unwatched:
            log.warning("service watch: %s is not watched: %s", unwatched.vantage, unwatched.why)

        def run() -> None:
            try:
                watch.run(stopping)
            finally:
                journal.close()

        thread = threading.Thread(target=run, name="service watch", daemon=True)
        thread.start()
        log.info("service watch: %d targets every %gs", len(watch.targets), settings.interval)
        return thread

    def sync_jobs(self) -> None:
        """Make the store hold exactly the inventory's jobs, keeping unchanged ones."""
        wanted = {spec.id for spec in self.specs}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                log.info("removing job %s: no longer in the inventory", job.id)
                job.remove()
        grace = self.inventory.scheduler.misfire_grace
        for spec in self.specs:
            stored = self.scheduler.get_job(spec.id)
            if stored is not None and _same(stored, spec):
                # Modifying these keeps next_run_time, and with it a missed fire time.
                stored.modify(misfire_grace_time=grace, coalesce=True, max_instances=1)
                continue
            self.scheduler.add_job(
                spec.func,
                spec.trigger,
                args=spec.args,
                id=spec.id,
                name=spec.id,
                replace_existing=True,
            )

    def next_runs(self) -> list[dict[str, Any]]:
        """The jobs and their next fire times, without changing the store."""
        self.scheduler.start(paused=True)
        try:
            stored = {job.id: job for job in self.scheduler.get_jobs()}
            found: list[tuple[str, BaseTrigger, datetime | None, dict[str, bool]]] = []
            for spec in self.specs:
                job = stored.pop(spec.id, None)
                if job is not None and _same(job, spec):
                    found.append((spec.id, spec.trigger, job.next_run_time, {"stored": True}))
                else:
                    now = datetime.now(self.scheduler.timezone)
                    upcoming = spec.trigger.get_next_fire_time(None, now)
                    found.append((spec.id, spec.trigger, upcoming, {"stored": False}))
            # In the database but not in the inventory: removed when the daemon starts.
            extra = {"stored": True, "stale": True}
            found += [(j.id, j.trigger, j.next_run_time, extra) for j in stored.values()]
            # Stored times keep the zone they were set in: show all in the inventory's.
            zone = self.scheduler.timezone
            return [
                {
                    "id": job_id,
                    "trigger": str(trigger),
                    "next_run_time": at.astimezone(zone).isoformat() if at else None,
                    **flags,
                }
                for job_id, trigger, at, flags in found
            ]
        finally:
            self.stop(wait=False)

    def describe(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _on_missed(self, event: JobExecutionEvent) -> None:
        late = f"missed its run at {event.scheduled_run_time.isoformat()} (beyond misfire_grace)"
        log.warning("job %s %s", event.job_id, late)
        journal = self.env.journal()
        try:
            data = {"job": event.job_id, "scheduled": event.scheduled_run_time.isoformat()}
            journal.append("scheduler.job_missed", data=data)
        finally:
            journal.close()
        outcome = job_alerts.missed_outcome(event.job_id, late)
        if outcome is not None:
            # In a thread of its own: the roster's mail, with its retries, must not hold
            # up this listener's thread, which fires every other job.
            name = f"missed-{event.job_id}"
            args = (outcome, event.scheduled_run_time)
            threading.Thread(target=self._tell_missed, args=args, name=name).start()

    def _tell_missed(self, outcome: job_alerts.JobOutcome, fire_time: datetime) -> None:
        try:
            # Every daemon on the database sees the miss; a lease of its own (not the
            # job's, which its next run needs) lets one of them tell the roster.
            with self.leases.hold(f"missed:{outcome.subject}", fire_time) as held:
                if not held:
                    return
                journal = self.env.journal()
                try:
                    job_alerts.finish(journal, self.env.inventory(), outcome)
                finally:
                    journal.close()
        except Exception:
            log.exception("could not tell anyone that %s missed its run", outcome.subject)


def _same(job: Any, spec: JobSpec) -> bool:
    return (
        job.func_ref == spec.func
        and tuple(job.args) == spec.args
        and _trigger_key(job.trigger) == _trigger_key(spec.trigger)
    )


def _trigger_key(trigger: BaseTrigger) -> str:
    # An interval trigger's repr holds its start date (the daemon's start); its period
    # is what matters. Cron and combined triggers' repr has fields and time zone.
    return str(trigger) if isinstance(trigger, IntervalTrigger) else repr(trigger)


def _engine(url: str) -> Any:
    if make_url(url).get_backend_name() == "sqlite":
        # The journal and the leases write to the same file: wait for them, do not fail.
        return create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
    return create_engine(url, pool_pre_ping=True)
