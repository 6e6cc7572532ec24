"""Reading `dr incident` option text into values; the rules for those values live in
orchestrator.incidents.checks, shared with every other caller."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from orchestrator.errors import UserInputError


def moment(option: str, value: str | None, timezone: str) -> datetime | None:
    """An ISO time; without a zone it is the inventory's local time."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserInputError(
            f"{option} {value!r} is not a time; write it like 2026-11-27T02:10 "
            f"(local time, {timezone}) or 2026-11-26T18:10Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed.astimezone(UTC)


def reporting_days(values: list[str] | None) -> tuple[date, ...]:
    """--reporting-day YYYY-MM-DD (a local date), repeatable."""
    days = []
    for value in values or ():
        try:
            days.append(date.fromisoformat(value))
        except ValueError:
            raise UserInputError(
                f"--reporting-day {value!r} is not a date; write it like 2026-02-13 "
                "(the local business day whose submission is at risk)"
            ) from None
    return tuple(days)
