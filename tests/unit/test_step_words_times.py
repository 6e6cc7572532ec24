"""A time inside a step's result reads in the run's zone, like every other printed time."""

from zoneinfo import ZoneInfo

from orchestrator.cli.step_words import result_words

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_recorded_moment_is_said_in_the_runs_zone() -> None:
    result = {"newest_message": "2026-12-05T00:09:57.149271+00:00", "pid": 31396}
    said = result_words(result, "en", SHANGHAI)
    assert "2026-12-05 08:09:57 UTC+08:00" in said and "+00:00" not in said
    assert "2026-12-05 08:09:57 UTC+08:00" in result_words(
        [result["newest_message"]], "zh", SHANGHAI
    )


def test_a_time_without_an_offset_is_left_as_the_operator_wrote_it() -> None:
    # `-p to="2026-12-03 14:32:00"` is already in the inventory's zone: not converted.
    assert "2026-12-03 14:32:00" in result_words({"to": "2026-12-03 14:32:00"}, "en", SHANGHAI)
    assert "UTC+08:00" not in result_words({"to": "2026-12-03 14:32:00"}, "en", SHANGHAI)


def test_without_a_zone_the_value_is_as_recorded() -> None:
    moment = "2026-12-05T00:09:57+00:00"
    assert moment in result_words({"at": moment}, "en")
