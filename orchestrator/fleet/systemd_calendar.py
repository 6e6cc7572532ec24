"""A backup set's cron schedule as systemd timer `OnCalendar=` expressions, for the backup
agent's timer (ansible/roles/backup_agent): the agent host runs each set when the
orchestrator's scheduler would (orchestrator/scheduler/cron.py reads the same expression).

systemd's calendar syntax differs from cron's in the ways that move a run silently:
weekdays are names (cron: Sunday is 0 or 7), ranges are `a..b`, and a day of month and a
weekday both given must both match (cron: either). So every field is expanded into the
explicit values it stands for, a restricted day of month *and* weekday become two
expressions (a timer fires on any of its OnCalendar= lines), and `D#N` (the Nth weekday
D of the month, dr's extension) becomes that weekday on the days 7(N-1)+1 .. 7N. The
inventory's time zone is written after each expression: systemd then fires in that zone
whatever the host's own zone is.
"""

from __future__ import annotations

from orchestrator.errors import UserInputError

_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# field -> (lowest, highest) value cron allows in it.
_BOUNDS = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "weekday": (0, 7),
}


def on_calendar(expression: str, timezone: str) -> list[str]:
    """The OnCalendar= values that fire when the cron `expression` does, in `timezone`.

    Raise UserInputError naming the expression when it cannot be read."""
    try:
        return _translate(expression, timezone)
    except ValueError as err:
        raise UserInputError(
            f"schedule {expression!r}: {err}; fix the backup set's schedule in the inventory"
        ) from None


def _translate(expression: str, timezone: str) -> list[str]:
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"a cron expression has 5 fields (6 with seconds), got {len(fields)}")
    second = _values(fields.pop(0), "second") if len(fields) == 6 else "00"
    minute, hour, day, month, weekday = fields
    time = f"{_values(hour, 'hour')}:{_values(minute, 'minute')}:{second}"
    months = _values(month, "month")
    if "#" in weekday:
        if day not in ("*", "?"):
            raise ValueError("D#N (Nth weekday) cannot be combined with a day of month")
        return [
            f"{name} *-{months}-{days} {time} {timezone}" for name, days in _nth_weekdays(weekday)
        ]
    days = _values(day, "day")
    names = "" if weekday in ("*", "?") else _weekday_names(weekday) + " "
    if _starred(day) or _starred(weekday):
        # As cron: a field starting with `*` (`*/2` too) only narrows the other one.
        return [f"{names}*-{months}-{days} {time} {timezone}"]
    # cron's rule: either the day of month or the weekday matching is enough.
    return [f"*-{months}-{days} {time} {timezone}", f"{names}*-{months}-* {time} {timezone}"]


def _starred(field: str) -> bool:
    return field.startswith(("*", "?"))


def _values(field: str, kind: str) -> str:
    """A cron field as systemd's comma-separated list of two-digit values, or `*`."""
    if field in ("*", "?"):
        return "*"
    return ",".join(f"{n:02d}" for n in sorted(_expand(field, kind)))


def _expand(field: str, kind: str) -> set[int]:
    lowest, highest = _BOUNDS[kind]
    found: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        if step_text and not step_text.isdigit():
            raise ValueError(f"{item!r}: a step is a whole number")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{item!r}: a step must be at least 1")
        if span in ("*", "?"):
            first, last = lowest, highest
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _number(start, kind), _number(end, kind)
        else:
            first = _number(span, kind)
            # cron reads `5/15` as from 5 to the end, every 15.
            last = highest if step_text else first
        if first > last:
            raise ValueError(f"{item!r}: a range must go upwards")
        found.update(range(first, last + 1, step))
    return found


def _number(text: str, kind: str) -> int:
    lowered = text.lower()
    if kind == "month" and lowered in _MONTHS:
        return _MONTHS.index(lowered) + 1
    if kind == "weekday" and lowered[:3].capitalize() in _WEEKDAYS and lowered.isalpha():
        return _WEEKDAYS.index(lowered[:3].capitalize())
    lowest, highest = _BOUNDS[kind]
    if not text.isdigit() or not lowest <= int(text) <= highest:
        raise ValueError(f"{text!r} is not a {kind} ({lowest}-{highest})")
    return int(text)


def _weekday_names(field: str) -> str:
    days = {n % 7 for n in _expand(field, "weekday")}
    # Monday first, as systemd prints them.
    return ",".join(_WEEKDAYS[n] for n in sorted(days, key=lambda n: (n + 6) % 7))


def _nth_weekdays(field: str) -> list[tuple[str, str]]:
    found = []
    for item in field.split(","):
        name, _, nth = item.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ValueError(f"{item!r}: write D#N with N from 1 to 5, e.g. 0#1")
        first = 7 * (int(nth) - 1) + 1
        weekday = _WEEKDAYS[_number(name, "weekday") % 7]
        found.append((weekday, f"{first:02d}..{min(first + 6, 31):02d}"))
    return found
