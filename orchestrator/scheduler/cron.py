"""Standard 5-field cron expressions as APScheduler 3 triggers.

`CronTrigger.from_crontab` cannot be used as is: APScheduler 3 numbers weekdays from
Monday=0 (cron: Sunday=0), and it ANDs day-of-month with day-of-week where cron ORs
them when both are restricted. Both would move backups to the wrong day without any
error, so the expression is translated here. Two extensions: `D#N` in the day-of-week
field is the Nth weekday D of the month (`0 2 * * 0#1`: the first Sunday, 02:00), which
plain cron cannot say; and a sixth, leading field of seconds (`*/5 * * * * *`: every
five seconds), for drills and tests that cannot wait for the next minute.
"""

from __future__ import annotations

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from orchestrator.errors import UserInputError

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 5: "5th"}


def to_trigger(expression: str, timezone: str) -> BaseTrigger:
    """The trigger firing when cron would; raise UserInputError naming the expression."""
    try:
        return _translate(expression, timezone)
    except ValueError as err:
        raise UserInputError(f"schedule {expression!r}: {err}") from None


def _translate(expression: str, timezone: str) -> BaseTrigger:
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"a cron expression has 5 fields (6 with seconds), got {len(fields)}")
    # Only a given seconds field is passed on: the trigger's repr, which tells a stored
    # job's schedule from a changed one, stays as it was for 5-field expressions.
    seconds = {"second": fields.pop(0)} if len(fields) == 6 else {}
    minute, hour, day, month, weekday = fields
    common = {"minute": minute, "hour": hour, "month": month, "timezone": timezone, **seconds}
    if "#" in weekday:
        if day not in ("*", "?"):
            raise ValueError("D#N (Nth weekday) cannot be combined with a day of month")
        return CronTrigger(day=_nth_weekday(weekday), **common)
    day_restricted = not day.startswith(("*", "?"))
    weekday_restricted = not weekday.startswith(("*", "?"))
    if day_restricted and weekday_restricted:
        # cron's rule: either field matching is enough.
        return OrTrigger(
            [
                CronTrigger(day=day, **common),
                CronTrigger(day_of_week=_weekdays(weekday), **common),
            ]
        )
    if weekday_restricted:
        return CronTrigger(day_of_week=_weekdays(weekday), **common)
    return CronTrigger(day=day, **common)


def _nth_weekday(field: str) -> str:
    parts = []
    for item in field.split(","):
        name, _, nth = item.partition("#")
        if not nth.isdigit() or int(nth) not in _ORDINALS:
            raise ValueError(f"{item!r}: write D#N with N from 1 to 5, e.g. 0#1")
        parts.append(f"{_ORDINALS[int(nth)]} {_NAMES[_weekday_number(name)]}")
    return ",".join(parts)


def _weekdays(field: str) -> str:
    """Cron's weekday field (Sunday=0 or 7, names, ranges, steps) as APScheduler names."""
    days: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{item!r}: a step must be at least 1")
        if span in ("*", "?"):
            first, last = 0, 6
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _weekday_number(start), _weekday_number(end, allow_seven=True)
        else:
            first = last = _weekday_number(span, allow_seven=True)
        if first > last:
            raise ValueError(f"{item!r}: a range must go upwards")
        days.update(n % 7 for n in range(first, last + 1, step))
    # Ordered Monday first so the rendered field reads naturally in `dr scheduler jobs`.
    return ",".join(_NAMES[n] for n in sorted(days, key=lambda n: (n + 6) % 7))


def _weekday_number(text: str, *, allow_seven: bool = False) -> int:
    lowered = text.lower()
    if lowered[:3] in _NAMES and lowered.isalpha():
        return _NAMES.index(lowered[:3])
    if text.isdigit() and int(text) <= (7 if allow_seven else 6):
        return int(text)
    raise ValueError(f"{text!r} is not a weekday (0-7 with 0 and 7 Sunday, or sun..sat)")
