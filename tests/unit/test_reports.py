"""Report pieces that need no journal: the standard's table, periods, the details file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from orchestrator.errors import UserInputError
from orchestrator.reports import standards
from orchestrator.reports.incident import load_details
from orchestrator.reports.occasions import month_of, months_between, period_bounds
from orchestrator.reports.summary import quarter_bounds


def test_levels_are_only_those_whose_ranges_hold_both_figures():
    table = standards.GB_T_20988_2007
    assert standards.levels_within(table, rto=600, rpo=0) == [5, 6]
    assert standards.levels_within(table, rto=5 * 3600, rpo=2 * 3600) == [4]
    assert standards.levels_within(table, rto=3 * 86400, rpo=2 * 86400) == [1, 2]
    assert standards.superseded(table, date(2026, 1, 1))
    assert not standards.superseded(table, date(2025, 12, 31))


def test_periods_include_both_days_and_list_their_months():
    low, high = period_bounds(date(2026, 11, 1), date(2026, 12, 31))
    assert months_between(low, high) == ["2026-11", "2026-12"]
    assert quarter_bounds("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    with pytest.raises(UserInputError, match="before --from"):
        period_bounds(date(2026, 12, 2), date(2026, 12, 1))


def test_days_and_months_are_the_institutions_own():
    beijing = ZoneInfo("Asia/Shanghai")
    # 01:30 on 1 December in Beijing is still 30 November in UTC.
    moment = "2026-11-30T17:30:00+00:00"
    assert month_of(moment) == "2026-11"
    assert month_of(moment, beijing) == "2026-12"
    low, high = period_bounds(date(2026, 12, 1), date(2026, 12, 31), beijing)
    assert low == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert low <= datetime.fromisoformat(moment) < high
    assert months_between(low, high) == ["2026-12"]
    assert quarter_bounds(None, beijing)[0].month in (1, 4, 7, 10)


def test_details_file_errors_name_the_file_and_the_field(tmp_path):
    path = tmp_path / "details.yaml"
    path.write_text("actions:\n  - 更换电源 / replace the PSU\n  - 复演 / drill again\n")
    assert load_details(path)["actions"].splitlines()[1] == "复演 / drill again"
    path.write_text("location: [1, {a: 2}]\n")
    with pytest.raises(UserInputError, match="field 'location' must be text"):
        load_details(path)
    path.write_text("location: 'unclosed\n")
    with pytest.raises(UserInputError, match=r"details.yaml:\d+: not valid YAML"):
        load_details(path)
