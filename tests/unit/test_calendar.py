"""The working-day calendar: State Council holidays, make-up working days, the
next-working-day submission deadline, years the data does not cover, and an
institution's own calendar file named by its inventory."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from orchestrator.calendar import calendar_for, load_calendar, shipped_calendar
from orchestrator.errors import InventoryError
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.inventory.workdays_file import calendar_warnings

ZONE = "Asia/Shanghai"


def test_a_reporting_day_before_the_spring_festival_is_due_after_the_holiday():
    cal = shipped_calendar()
    # 2026: 春节 15-23 Feb; Saturday 14 Feb is a make-up working day (调休上班).
    deadline = cal.submission_deadline(date(2026, 2, 14), ZONE)
    assert deadline.due == datetime(2026, 2, 24, 9, 0, tzinfo=UTC)  # 17:00 CST, Tuesday
    assert deadline.due.tzname() == "CST" and deadline.gaps == ()
    # 2025: 春节 28 Jan - 4 Feb; Monday 27 Jan is the last working day before it.
    assert cal.next_working_day(date(2025, 1, 27)) == date(2025, 2, 5)
    assert cal.holiday(date(2025, 2, 1)).name == ("春节", "Spring Festival")


def test_a_make_up_saturday_counts_as_a_working_day():
    cal = shipped_calendar()
    assert cal.is_working_day(date(2026, 2, 14))  # Saturday, 调休上班
    assert cal.is_working_day(date(2025, 1, 26))  # Sunday, 调休上班
    # Friday 13 Feb 2026: due the make-up Saturday, not after the holiday.
    assert cal.submission_deadline(date(2026, 2, 13), ZONE).due.date() == date(2026, 2, 14)
    # ... and Saturday 28 Feb is one too: Friday 27 Feb is due on it.
    assert cal.next_working_day(date(2026, 2, 27)) == date(2026, 2, 28)


def test_a_weekend_is_skipped_and_a_weekday_holiday_is_not_a_working_day():
    cal = shipped_calendar()
    assert cal.next_working_day(date(2026, 3, 6)) == date(2026, 3, 9)  # Fri -> Mon
    assert not cal.is_working_day(date(2026, 3, 7))
    assert not cal.is_working_day(date(2026, 10, 1))  # Thursday, 国庆节
    # Wednesday 30 Sep 2026 is due on Thursday 8 Oct, the first day after National Day.
    assert cal.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)


def test_a_year_outside_the_data_is_counted_on_weekdays_and_flagged():
    cal = shipped_calendar()
    assert not cal.covers(2027)
    deadline = cal.submission_deadline(date(2027, 3, 5), ZONE)  # a Friday
    assert deadline.due.date() == date(2027, 3, 8)
    [gap] = deadline.gaps
    zh, en = gap.text()
    assert en.startswith("calendar does not cover 2027") and "cn-workdays.yaml" in en
    assert "2027" in zh
    # Across New Year: 31 Dec 2026 is covered, the day it is due on is not.
    across = cal.submission_deadline(date(2026, 12, 31), ZONE)
    assert across.due.date() == date(2027, 1, 1) and [g.year for g in across.gaps] == [2027]


def _own_calendar(tmp_path: Path, holidays: list[dict]) -> Path:
    # Test data only: a fictitious year, to show that an institution's file is used.
    doc = {
        "version": "test-1",
        "years": {
            2030: {
                "source": "test calendar",
                "published": date(2029, 11, 1),
                "holidays": holidays,
                "workdays": [date(2030, 1, 5)],
            }
        },
    }
    path = tmp_path / "own-workdays.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def _inventory_with(tmp_path: Path, calendar: str) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(f"name: t\nenvironment: drill\ncalendar: {calendar}\n")
    return path


def test_an_inventory_points_at_its_own_calendar_relative_to_itself(tmp_path):
    _own_calendar(
        tmp_path, [{"first": date(2030, 1, 7), "last": date(2030, 1, 8), "zh": "测试", "en": "t"}]
    )
    inventory = load_inventory(_inventory_with(tmp_path, "own-workdays.yaml"))
    cal = calendar_for(inventory)
    assert cal.version == "test-1" and cal.file == tmp_path / "own-workdays.yaml"
    assert cal.is_working_day(date(2030, 1, 5))  # a Saturday the file makes a working day
    assert cal.next_working_day(date(2030, 1, 4)) == date(2030, 1, 5)
    assert cal.next_working_day(date(2030, 1, 5)) == date(2030, 1, 9)  # Mon-Tue off
    assert not cal.covers(2026)  # the shipped years are not merged in: the file is whole


def test_a_broken_calendar_file_is_reported_with_its_file_and_line(tmp_path):
    _own_calendar(
        tmp_path, [{"first": date(2030, 1, 8), "last": date(2030, 1, 7), "zh": "测试", "en": "t"}]
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(_inventory_with(tmp_path, "own-workdays.yaml"))
    text = caught.value.message
    assert "own-workdays.yaml:" in text and "holidays[0]" in text
    assert "check the two dates" in text
    with pytest.raises(InventoryError, match="cannot read the working-day calendar"):
        load_inventory(_inventory_with(tmp_path, "missing.yaml"))


def test_the_shipped_calendar_names_its_sources():
    cal = load_calendar(shipped_calendar().file)
    assert sorted(cal.years) == [2025, 2026]
    assert "国办发明电〔2024〕12号" in cal.years[2025].source
    assert cal.years[2026].published == date(2025, 11, 4)


def test_inventory_check_warns_when_the_calendar_lacks_this_year_or_next_from_november():
    inventory = Inventory.model_validate({"name": "t", "environment": "drill"})
    assert calendar_warnings(inventory, date(2026, 10, 31)) == []
    [warning] = calendar_warnings(inventory, date(2026, 12, 4))
    assert "does not cover 2027" in warning and "calendar:" in warning
    [warning] = calendar_warnings(inventory, date(2028, 3, 1))
    assert "does not cover 2028" in warning
