from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from orchestrator.shown_times import shown_clock, shown_time, zone_label

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
