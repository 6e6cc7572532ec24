"""Working days in mainland China, as versioned data (data/cn-workdays.yaml).

from orchestrator.calendar import calendar_for, shipped_calendar
cal = calendar_for(inventory)           # the inventory's `calendar:` file, or the shipped one
cal.is_working_day(date(2026, 2, 14))   # True: a make-up Saturday (调休上班)
cal.next_working_day(date(2026, 2, 13)) # date(2026, 2, 24), after the Spring Festival
cal.submission_deadline(day, "Asia/Shanghai") -> SubmissionDeadline(due, gap)
"""

from orchestrator.calendar.loading import calendar_for, load_calendar, shipped_calendar
from orchestrator.calendar.workdays import (
    END_OF_WORKING_DAY,
    CoverageGap,
    Holiday,
    SubmissionDeadline,
    WorkCalendar,
    YearRules,
)

__all__ = [
    "END_OF_WORKING_DAY",
    "CoverageGap",
    "Holiday",
    "SubmissionDeadline",
    "WorkCalendar",
    "YearRules",
    "calendar_for",
    "load_calendar",
    "shipped_calendar",
]
