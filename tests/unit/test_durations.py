"""Durations as operators write them, stored as whole seconds."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from orchestrator.inventory.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("4h", 14_400),
        ("2d", 172_800),
        ("1h30m", 5400),
        ("1d2h3m4s", 93_784),
        ("1h 30m", 5400),
        ("4H", 14_400),
        ("0s", 0),
        ("300", 300),
        (" 45s ", 45),
        (0, 0),
        (600, 600),
        (120.0, 120),
    ],
)
def test_parse_duration_accepts_the_documented_notations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "is not a duration"),
        ("5 minutes", "is not a duration"),
        ("30m1h", "is not a duration"),  # units largest first, so it reads one way only
        ("1h30", "is not a duration"),
        ("1.5h", "is not a duration"),
        ("-5m", "is not a duration"),
        ("h", "is not a duration"),
        (-1, "cannot be negative"),
        (1.5, "whole number of seconds"),
        (True, "cannot be true/false"),
        ([1], "expected a duration, got list"),
        (None, "expected a duration, got NoneType"),
    ],
)
def test_parse_duration_rejects_anything_else_with_a_hint(value, fragment):
    with pytest.raises(ValueError) as err:
        parse_duration(value)
    assert fragment in str(err.value)
    if isinstance(value, str):
        assert "e.g. 90s, 30m, 4h, 1h30m, 2d" in str(err.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (90, "1m30s"), (5400, "1h30m"), (86_400, "1d"), (93_784, "1d2h3m4s")],
)
def test_format_duration_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


class _Timed(BaseModel):
    wait: Duration


def test_duration_field_stores_int_seconds_and_dumps_them():
    model = _Timed(wait="1h30m")
    assert model.wait == 5400
    assert isinstance(model.wait, int)
    assert model.model_dump(mode="json") == {"wait": 5400}


def test_duration_field_error_is_our_message_without_pydantic_prefix():
    with pytest.raises(ValidationError) as err:
        _Timed(wait="soon")
    (detail,) = err.value.errors()
    assert detail["type"] == "duration"
    assert detail["msg"].startswith("'soon' is not a duration")


def test_duration_field_has_a_json_schema():
    schema = _Timed.model_json_schema()
    assert "anyOf" in schema["properties"]["wait"]
