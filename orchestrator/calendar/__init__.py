"""Working days in mainland China, as versioned data: the public API.

The calendar is configuration an institution may replace (its inventory's `calendar:`),
so it is read and checked with the inventory (orchestrator/inventory/workdays.py and
workdays_file.py, data/cn-workdays.yaml); code above the records floor uses it from here:

    from orchestrator.calendar import calendar_for, shipped_calendar
    cal = calendar_for(inventory)           # the inventory's `calendar:` file, or the shipped one
    cal.is_working_day(date(2026, 2, 14))   # True: a make-up Saturday (调休上班)
    cal.next_working_day(date(2026, 2, 13)) # date(2026, 2, 14)
    cal.submission_deadline(day, "Asia/Shanghai") -> SubmissionDeadline(due, gaps)
    end_of_day(day, "Asia/Shanghai")        # 23:59:59 local, the re-entry deadlines
"""

from orchestrator.inventory.workdays import (
    END_OF_WORKING_DAY,
    CoverageGap,
    Holiday,
    SubmissionDeadline,
    WorkCalendar,
    YearRules,
    end_of_day,
)
from orchestrator.inventory.workdays_file import calendar_for, load_calendar, shipped_calendar

__all__ = [
    "END_OF_WORKING_DAY",
    "CoverageGap",
    "Holiday",
    "SubmissionDeadline",
    "WorkCalendar",
    "YearRules",
    "calendar_for",
    "end_of_day",
    "load_calendar",
    "shipped_calendar",
]
