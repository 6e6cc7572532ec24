"""Durations written the way operators say them: "90s", "30m", "4h", "1h30m", "2d" or seconds.

Durations are whole seconds (int). Nothing in an inventory needs sub-second precision
(RTO/RPO targets, UPS runtimes, generator settling times), and integers compare and
print exactly, which matters when a report says whether a target was met.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

# Units must come largest first, each at most once: "1h30m" yes, "30m1h" no, so that a
# duration reads one way only.
_DURATION = re.compile(
    r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*$",
    re.IGNORECASE,
)

_HINT = "write e.g. 90s, 30m, 4h, 1h30m, 2d or a whole number of seconds"


def parse_duration(value: object) -> int:
    """Return `value` as whole seconds; raise ValueError with an operator-facing message."""
    # bool is an int subclass; `rto: yes` is a mistake, not one second.
    if isinstance(value, bool):
        raise ValueError(f"a duration cannot be true/false; {_HINT}")
    if isinstance(value, int):
        return _non_negative(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"a duration is a whole number of seconds, got {value}; {_HINT}")
        return _non_negative(int(value))
    if isinstance(value, str):
        return _parse_text(value)
    raise ValueError(f"expected a duration, got {type(value).__name__}; {_HINT}")


def _parse_text(text: str) -> int:
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    match = _DURATION.match(stripped)
    if not stripped or match is None or not any(match.groupdict().values()):
        raise ValueError(f"{text!r} is not a duration; {_HINT}")
    return sum(int(n) * _UNIT_SECONDS[unit] for unit, n in match.groupdict().items() if n)


def _non_negative(seconds: int) -> int:
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds}")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds in the inventory's own notation, e.g. 5400 -> "1h30m", 0 -> "0s"."""
    remaining = round(seconds)
    if remaining == 0:
        return "0s"
    sign = "-" if remaining < 0 else ""
    remaining = abs(remaining)
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def _validate_duration(value: Any) -> int:
    try:
        return parse_duration(value)
    except ValueError as err:
        # A custom error keeps pydantic from prefixing "Value error, " to our message.
        raise PydanticCustomError("duration", str(err)) from None


Duration = Annotated[
    int,
    PlainValidator(_validate_duration),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
            "description": "seconds, or e.g. 90s, 30m, 4h, 1h30m, 2d",
        }
    ),
]
"""A pydantic field type: accepts the notations above, stores whole seconds."""
