"""The `scheduler:` section: when `dr scheduler run` runs restore tests, RPO checks and
the incident tick, where it writes its Prometheus textfile, and which of its jobs ping a
dead-man's switch (healthchecks.io and its kin):

```yaml
scheduler:
  pings:
    "backup:credit": env:DR_PING_BACKUP_CREDIT   # the job id, as `dr scheduler jobs` shows
    "restore-test:credit": file:secrets/ping-restore-test.url
  ping_timeout: 5s
```
A ping URL carries its check's token, so it is a secret reference like a bot's URL."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.service_watch_settings import ServiceWatchSettings
from orchestrator.inventory.strict import StrictModel

# The scheduler's jobs of a backup set that report how they went (and so can ping):
# "backup:SET", "restore-test:SET", and a postgres-pitr set's "check:SET", "verify:SET".
PINGED_JOBS = ("backup", "restore-test", "check", "verify")


def _check_scheduler_cron(value: str) -> str:
    # Like Cron, plus D#N in the day-of-week field (the Nth weekday of the month), which
    # is how "the first Sunday" is written: in plain cron "0 2 1-7 * 0" means days 1-7
    # *or* any Sunday. Whether the fields make sense is checked when the scheduler starts.
    fields = value.split()
    if len(fields) != 5 or not all(re.match(r"^[0-9A-Za-z*/,?#-]+$", f) for f in fields):
        raise PydanticCustomError(
            "cron",
            "a schedule is a cron expression with 5 fields, e.g. '0 2 * * 0#1' for 02:00 "
            "on the first Sunday of each month; got {count} field(s)",
            {"count": len(fields)},
        )
    return value


def _check_pinged_jobs(value: dict[str, SecretRef]) -> dict[str, SecretRef]:
    # Whether SET names a backup set of the inventory is checked when the daemon starts
    # (orchestrator.scheduler.deadman.check_pings): this model does not see the sets.
    for job in value:
        kind, sep, name = job.partition(":")
        if not sep or kind not in PINGED_JOBS or not name:
            raise PydanticCustomError(
                "ping_job",
                "pings: {job!r} is not a job that can ping; name one as `dr scheduler jobs` "
                "lists it: backup:SET, restore-test:SET, check:SET or verify:SET",
                {"job": job},
            )
    return value


class SchedulerSettings(StrictModel):
    """`dr scheduler run`: when restore tests run, how late a missed job may still run,
    and where the Prometheus textfile goes."""

    restore_test_schedule: Annotated[str, AfterValidator(_check_scheduler_cron)] = "0 2 * * 0#1"
    # A run missed while the daemon was down still runs on restart if it is at most this
    # late; an older one is skipped (the next fire time comes instead).
    misfire_grace: Duration = 6 * 3600
    rpo_check_interval: Duration = Field(default=300, ge=10)
    # How often `dr incident tick` runs: escalations, deadline reminders, notifications.
    incident_tick_interval: Duration = Field(default=60, ge=10)
    # How often the lag watch reads each host pair's replication lag (scheduler/lag_watch).
    lag_check_interval: Duration = Field(default=60, ge=10)
    textfile_dir: InventoryPath | None = None
    # Dead-man's switch: job id -> ping URL (a secret reference); the job pings URL/start
    # when it begins, URL when it succeeds and URL/fail when it fails.
    pings: Annotated[dict[str, SecretRef], AfterValidator(_check_pinged_jobs)] = {}
    # A ping that takes longer is given up (and journaled): it must never hold a job up.
    ping_timeout: Duration = Field(default=5, ge=1, le=60)
    # The service watch (service_watch_settings.py): off without the section.
    service_watch: ServiceWatchSettings | None = None
