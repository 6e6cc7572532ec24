"""The `scheduler:` section: when `dr scheduler run` runs restore tests, RPO checks and
the incident tick, and where it writes its Prometheus textfile."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.strict import StrictModel


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
    textfile_dir: InventoryPath | None = None
