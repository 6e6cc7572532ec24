"""Which days are working days, and when a reporting day's submission is due.

A year the calendar lists follows its State Council notice: its holidays are days off
even on weekdays, its make-up days (调休上班) are working days even on weekends. A year it
does not list is counted on weekdays only, and every answer about it carries a
CoverageGap so that nobody trusts a deadline computed without the holidays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# "By the end of the next working day" (001 art. 13): we take 17:00 local time, the end
# of office hours, not midnight. The credit-system administrator submits from the office
# during working hours and the credit centre's desk answers only then; a deadline shown
# at 23:59 would invite an attempt at an hour nobody is there to make it or to help.
# Erring early is the safe side of a regulator's clock.
END_OF_WORKING_DAY = time(17, 0)
# A calendar never lists more than this many days off in a row; the search for the next
# working day stops there (a broken file could otherwise loop for ever).
_LONGEST_BREAK = 30


@dataclass(frozen=True)
class Holiday:
    first: date
    last: date
    name: tuple[str, str]  # (zh, en)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last


@dataclass(frozen=True)
class YearRules:
    year: int
    source: str  # the notice's title (and number)
    published: date
    holidays: tuple[Holiday, ...]
    workdays: frozenset[date]  # weekend days that are working days


@dataclass(frozen=True)
class CoverageGap:
    """The calendar does not list `year`: weekdays were counted, holidays were not."""

    year: int
    file: str

    def text(self) -> tuple[str, str]:
        return (
            f"工作日历未包含{self.year}年(仅按周一至周五计算,未计节假日);请更新 {self.file}",
            f"calendar does not cover {self.year} (weekdays only, no holidays); update {self.file}",
        )


@dataclass(frozen=True)
class SubmissionDeadline:
    reporting_day: date
    due: datetime  # aware, in the zone it was asked for
    gaps: tuple[CoverageGap, ...]  # years counted without their holidays


@dataclass(frozen=True)
class WorkCalendar:
    file: Path
    version: str
    years: dict[int, YearRules]

    def covers(self, year: int) -> bool:
        return year in self.years

    def holiday(self, day: date) -> Holiday | None:
        rules = self.years.get(day.year)
        if rules is None:
            return None
        return next((h for h in rules.holidays if day in h), None)

    def is_working_day(self, day: date) -> bool:
        rules = self.years.get(day.year)
        if rules is not None and day in rules.workdays:
            return True
        if self.holiday(day) is not None:
            return False
        return day.weekday() < 5

    def next_working_day(self, day: date) -> date:
        """The first working day after `day` (not `day` itself)."""
        candidate = day + timedelta(days=1)
        for _ in range(_LONGEST_BREAK):
            if self.is_working_day(candidate):
                return candidate
            candidate += timedelta(days=1)
        return candidate  # unreachable with a sane file; a weekday at the latest

    def gaps(self, *days: date) -> tuple[CoverageGap, ...]:
        years = sorted({d.year for d in days if not self.covers(d.year)})
        return tuple(CoverageGap(year, str(self.file)) for year in years)

    def submission_deadline(self, reporting_day: date, timezone: str) -> SubmissionDeadline:
        """The business of `reporting_day` is due at the credit centre by the end of the
        next working day (END_OF_WORKING_DAY, local time in `timezone`)."""
        day = self.next_working_day(reporting_day)
        due = datetime.combine(day, END_OF_WORKING_DAY, tzinfo=ZoneInfo(timezone))
        # Every day looked at counts: a gap between the two days could hide a holiday.
        span = [reporting_day + timedelta(days=n) for n in range((day - reporting_day).days + 1)]
        return SubmissionDeadline(reporting_day, due, self.gaps(*span))


def end_of_day(day: date, timezone: str) -> datetime:
    """The last second of `day`, local time: the re-entry deadlines ("the same day", "the
    next day") are calendar days, and branches re-enter into the evening after an outage."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(timezone))
