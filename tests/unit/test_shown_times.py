from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from orchestrator.shown_times import (
    DEFAULT_ZONE,
    shown_clock,
    shown_column,
    shown_time,
    zone_at,
    zone_label,
    zone_named,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_journal_timestamp_is_shown_in_the_zone_with_its_offset() -> None:
    assert shown_time("2026-12-04T07:32:08+00:00", SHANGHAI) == "2026-12-04 15:32:08 UTC+08:00"
    assert shown_time("2026-12-04T07:32:08", SHANGHAI) == "2026-12-04 15:32:08 UTC+08:00"
    assert shown_time(datetime(2026, 12, 4, 7, 32, tzinfo=UTC), UTC) == "2026-12-04 07:32:00 UTC"
    assert shown_clock("2026-12-04T16:00:00+00:00", SHANGHAI) == "00:00:00 UTC+08:00"


def test_no_time_and_text_that_is_not_a_time() -> None:
    assert shown_time(None, SHANGHAI) == "-"
    assert shown_time("soon", SHANGHAI) == "soon"


def test_a_zone_west_of_utc_and_one_with_half_hours() -> None:
    winter = datetime(2026, 1, 5, tzinfo=UTC)
    assert zone_label(ZoneInfo("America/New_York"), winter) == "UTC-05:00"
    assert zone_label(ZoneInfo("Asia/Kolkata"), winter) == "UTC+05:30"


def test_to_the_millisecond_and_a_column_that_says_its_zone_once() -> None:
    assert (
        shown_time("2026-12-04T07:32:08.894680+00:00", SHANGHAI, millis=True)
        == "2026-12-04 15:32:08.894 UTC+08:00"
    )
    label, times = shown_column(
        ["2026-12-04T07:32:08.894680+00:00", None, "not a time"], SHANGHAI, millis=True
    )
    assert (label, times) == ("UTC+08:00", ["2026-12-04 15:32:08.894", "-", "not a time"])


def test_a_column_across_a_change_of_summer_time_says_each_other_offset() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Summer time ends at 01:00 UTC on 25 October 2026.
    label, times = shown_column(["2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00"], berlin)
    assert label == "UTC+02:00"
    assert times == ["2026-10-25 02:30:00", "2026-10-25 02:30:00 UTC+01:00"]


def test_the_zone_of_an_inventory_that_is_not_here_is_the_default(tmp_path) -> None:
    assert str(zone_at(str(tmp_path / "gone.yaml"))) == DEFAULT_ZONE
    assert str(zone_named(None)) == DEFAULT_ZONE and str(zone_named("UTC")) == "UTC"
