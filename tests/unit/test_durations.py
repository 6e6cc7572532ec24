"""Durations as operators write them: one grammar for runbooks and inventories, the
inventory's in whole seconds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from orchestrator.durations import parse_seconds
from orchestrator.errors import InventoryError, RunbookDefinitionError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.durations import Duration, format_duration, parse_duration
from orchestrator.runbook import seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("4h", 14_400),
        ("2d", 172_800),
        ("1h30m", 5400),
        ("1d2h3m4s", 93_784),
        ("1.5h", 5400),
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
        ("0.5s", "whole number of seconds"),
        ("-5m", "is not a duration"),
        ("inf", "is not a duration"),
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


# ---- the one grammar, as both runbooks and inventories read it ------------------------

ACCEPTED = [
    ("90s", 90.0),
    ("5m", 300.0),
    ("4h", 14_400.0),
    ("2d", 172_800.0),
    ("1h30m", 5400.0),
    ("1h 30m", 5400.0),
    ("1.5h", 5400.0),
    ("0.5s", 0.5),
    ("4H", 14_400.0),
    ("300", 300.0),
    ("2.5", 2.5),
    (45, 45.0),
    (0.05, 0.05),
]

REFUSED = ["30m1h", "1h1h", "", "   ", "-5s", "-5", "inf", "nan", "1e3s", "5 minutes", "1h30",
           "500ms", "s", ".5s"]  # fmt: skip


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_the_grammar_accepts(value, expected):
    assert parse_seconds(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", REFUSED)
def test_the_grammar_refuses(value):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_seconds(value)


@pytest.mark.parametrize("value", [-1, -0.5, math.inf, -math.inf, math.nan])
def test_the_grammar_refuses_negative_and_unbounded_numbers(value):
    with pytest.raises(ValueError, match=r"negative|finite"):
        parse_seconds(value)


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_runbooks_accept_what_the_grammar_accepts(value, expected):
    assert seconds(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [*REFUSED, -5, math.inf, True])
def test_runbooks_refuse_what_the_grammar_refuses(value):
    with pytest.raises(RunbookDefinitionError, match="write seconds as a number or text like"):
        seconds(value)


def test_runbooks_leave_an_unset_duration_unset():
    assert seconds(None) is None


@pytest.mark.parametrize(
    ("value", "expected"), [(v, e) for v, e in ACCEPTED if float(e).is_integer()]
)
def test_inventories_accept_what_the_grammar_accepts_in_whole_seconds(value, expected):
    assert parse_duration(value) == int(expected)


@pytest.mark.parametrize("value", REFUSED)
def test_inventories_refuse_what_the_grammar_refuses(value):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


@pytest.mark.parametrize(("written", "message"), [("30m1h", "is not a duration"),
                                                  ("0.5s", "whole number of seconds")])  # fmt: skip
def test_an_inventory_reports_a_refused_duration_at_its_file_and_line(tmp_path, written, message):
    source = Path(__file__).parents[1] / "data" / "inventories" / "drill-small.yaml"
    text = source.read_text(encoding="utf-8")
    assert text.count("rto: 15m") == 1
    path = tmp_path / "inventory.yaml"
    path.write_text(text.replace("rto: 15m", f"rto: {written}"), encoding="utf-8")
    line = next(n for n, t in enumerate(text.splitlines(), start=1) if "rto: 15m" in t)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    [problem] = [p for p in err.value.problems if p.field == "targets[0].rto"]
    assert (problem.file, problem.line) == (str(path), line)
    assert message in problem.message and str(problem).startswith(f"{path}:{line}: targets[0].rto:")
