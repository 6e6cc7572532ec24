"""A backup set's cron schedule as the agent timer's OnCalendar= lines: the times systemd
itself computes for them (systemd-analyze calendar) are the times the scheduler's
trigger fires (orchestrator/scheduler/cron.py) for the same expression and zone."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime

import pytest

from orchestrator.errors import UserInputError
from orchestrator.fleet.ansible_inventory import ansible_inventory
from orchestrator.fleet.systemd_calendar import on_calendar
from orchestrator.inventory.models import Inventory
from orchestrator.scheduler.cron import to_trigger

BASE = datetime(2026, 12, 4, 23, 13, 7, tzinfo=UTC)  # on no schedule's second
ZONE = "Asia/Shanghai"
COUNT = 12
_ELAPSE = re.compile(r"(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def _systemd_times(expressions: list[str]) -> list[datetime]:
    done = subprocess.run(
        [
            "systemd-analyze", "calendar", f"--iterations={COUNT}",
            f"--base-time={BASE:%Y-%m-%d %H:%M:%S} UTC", *expressions,
        ],
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = {
        datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        for m in _ELAPSE.findall(done.stdout)
    }
    return sorted(found)[:COUNT]


def _scheduler_times(expression: str) -> list[datetime]:
    trigger = to_trigger(expression, ZONE)
    times: list[datetime] = []
    previous = None
    now = BASE
    while len(times) < COUNT:
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        times.append(fire.astimezone(UTC))
        previous, now = fire, fire
    return times


@pytest.mark.parametrize(
    "expression",
    [
        "30 1 * * *",  # the example inventory's nightly backup
        "0 2 * * 0#1",  # first Sunday of the month (dr's D#N)
        "15 3 * * 1#2,5#5",  # second Monday, fifth Friday
        "*/20 * * * *",
        "5/20 8-18/3 * * *",
        "0 3 1,15 * 1-5",  # day of month OR weekday, as cron
        "0 22 * * 7",  # Sunday as 7
        "0 12 * * sat,sun",
        "30 0 1 jan,jul *",
        "0 6 31 * *",  # months without a 31st are skipped
        "*/10 * * * * *",  # six fields: seconds first
    ],
)
def test_the_timer_fires_when_the_scheduler_would(expression):
    assert _systemd_times(on_calendar(expression, ZONE)) == _scheduler_times(expression)


def test_a_day_of_month_and_a_weekday_are_two_timer_lines_as_cron_ors_them():
    assert on_calendar("0 3 1,15 * 1-5", "UTC") == [
        "*-*-01,15 03:00:00 UTC",
        "Mon,Tue,Wed,Thu,Fri *-*-* 03:00:00 UTC",
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 2 * *", "5 fields"),
        ("0 25 * * *", "'25' is not a hour"),
        ("0 2 1 * 0#1", "cannot be combined"),
        ("0 2 * * 0#6", "N from 1 to 5"),
        ("0 2 * * 5-1", "must go upwards"),
    ],
)
def test_a_schedule_systemd_cannot_be_given_is_refused_with_the_expression(expression, message):
    with pytest.raises(UserInputError, match=message) as refused:
        on_calendar(expression, ZONE)
    assert repr(expression) in str(refused.value)


def test_the_export_gives_each_scheduled_agent_set_its_timer_lines():
    inventory = Inventory.model_validate(
        {
            "name": "t",
            "environment": "drill",
            "timezone": ZONE,
            "sites": [{"name": "s1", "kind": "branch"}],
            "hosts": [{"name": "h1", "address": "10.0.0.1", "site": "s1"}],
            "backup_sets": [
                {
                    "name": "docs",
                    "host": "h1",
                    "repository": "/srv/restic/docs",
                    "password": "env:RESTIC_PASSWORD",
                    "paths": ["/srv/docs"],
                    "schedule": "30 1 * * *",
                }
            ],
        }
    )
    (agent_set,) = ansible_inventory(inventory)["all"]["hosts"]["h1"]["dr_backup_sets"]
    assert agent_set["on_calendar"] == ["*-*-* 01:30:00 Asia/Shanghai"]
