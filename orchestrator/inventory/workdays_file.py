"""Reading a working-day calendar file: the one shipped with dr (data/cn-workdays.yaml),
or an institution's own (the inventory's `calendar:`). Every fault is an InventoryError
as FILE:LINE: field: message, like the inventory's own, and the loader reads the file the
inventory names, so `dr inventory check` shows them. Public API: orchestrator.calendar."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from orchestrator.errors import InventoryError, Problem
from orchestrator.inventory.strict import StrictModel
from orchestrator.inventory.validation_messages import problems_from_validation
from orchestrator.inventory.workdays import Holiday, WorkCalendar, YearRules
from orchestrator.inventory.yaml_lines import parse_yaml

if TYPE_CHECKING:
    from orchestrator.inventory.models import Inventory

SHIPPED = Path(__file__).parent / "data" / "cn-workdays.yaml"
_MAX_BYTES = 1024 * 1024


class _HolidayEntry(StrictModel):
    first: date
    last: date
    zh: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last < self.first or (self.last - self.first).days > 20:
            raise PydanticCustomError(
                "holiday_range",
                "a holiday runs from `first` to `last` (the same day or up to 3 weeks later); "
                "check the two dates against the notice",
            )
        return self


class _YearEntry(StrictModel):
    source: Annotated[str, Field(min_length=1)]
    published: date
    holidays: list[_HolidayEntry]
    workdays: list[date] = Field(default_factory=list)


class _CalendarFile(StrictModel):
    version: Annotated[str, Field(min_length=1)]
    years: dict[int, _YearEntry]

    @model_validator(mode="after")
    def _days_in_their_year(self) -> Self:
        for year, entry in self.years.items():
            days = [d for h in entry.holidays for d in (h.first, h.last)] + entry.workdays
            stray = sorted({d for d in days if d.year != year and not _spills_over(d, year)})
            if stray:
                raise PydanticCustomError(
                    "calendar_year",
                    "year {year} lists {days}, outside the year; put them under their own year",
                    {"year": year, "days": ", ".join(d.isoformat() for d in stray)},
                )
            weekday_workdays = [d for d in entry.workdays if d.weekday() < 5]
            if weekday_workdays:
                raise PydanticCustomError(
                    "calendar_workday",
                    "workdays lists only weekend days that are working days (调休上班); "
                    "{days} is a weekday anyway",
                    {"days": ", ".join(d.isoformat() for d in weekday_workdays)},
                )
        return self


def _spills_over(day: date, year: int) -> bool:
    """A holiday may run across New Year (e.g. 31 Dec .. 2 Jan)."""
    return (day.year == year + 1 and day.month == 1) or (day.year == year - 1 and day.month == 12)


def load_calendar(path: Path) -> WorkCalendar:
    """Read and check the calendar at `path`; InventoryError lists every fault."""
    file = str(path)
    try:
        content = path.read_bytes()[: _MAX_BYTES + 1]
    except OSError as err:
        message = f"cannot read the working-day calendar ({err.strerror or err}); check the path"
        raise InventoryError([Problem(file, None, "", message)]) from None
    if len(content) > _MAX_BYTES:
        raise InventoryError([Problem(file, None, "", "larger than 1 MiB: not a calendar")])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        message = "not UTF-8 text; save it as UTF-8"
        raise InventoryError([Problem(file, None, "", message)]) from None
    located = parse_yaml(text, file)
    if located.problems:
        raise InventoryError(located.problems)
    try:
        parsed = _CalendarFile.model_validate(located.data)
    except ValidationError as err:
        raise InventoryError(problems_from_validation(err, file, located)) from None
    years = {
        year: YearRules(
            year=year,
            source=entry.source,
            published=entry.published,
            holidays=tuple(Holiday(h.first, h.last, (h.zh, h.en)) for h in entry.holidays),
            workdays=frozenset(entry.workdays),
        )
        for year, entry in parsed.years.items()
    }
    return WorkCalendar(file=path, version=parsed.version, years=years)


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> WorkCalendar:
    return load_calendar(path)


def shipped_calendar() -> WorkCalendar:
    return _cached(SHIPPED, SHIPPED.stat().st_mtime_ns)


def calendar_for(inventory: Inventory | None) -> WorkCalendar:
    """The inventory's own calendar file if it names one, else the shipped one. Read again
    when the file changes (an updated calendar counts at the next tick)."""
    path = inventory.calendar if inventory is not None else None
    if path is None:
        return shipped_calendar()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return load_calendar(path)  # raises the error that says what is wrong
    return _cached(path, mtime)


def calendar_warnings(inventory: Inventory, today: date) -> list[str]:
    """What `dr inventory check` says about the calendar's years: it must cover this year,
    and from November (the State Council publishes next year's notice in November or
    December) next year too, or deadlines are counted without the holidays."""
    calendar = calendar_for(inventory)
    wanted = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    missing = [year for year in wanted if not calendar.covers(year)]
    if not missing:
        return []
    years = ", ".join(str(y) for y in missing)
    return [
        f"the working-day calendar {calendar.file} does not cover {years}: submission "
        "deadlines there count weekdays only; add the year from the State Council's "
        "notice (国务院办公厅关于部分节假日安排的通知) to a copy and name it in `calendar:`"
    ]
