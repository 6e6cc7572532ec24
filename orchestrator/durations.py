"""Durations as operators write them, one grammar for runbooks and inventories.

    90s   5m   4h   2d   1h30m   1h 30m   1.5h   0.5s   300 (seconds)

Units are d, h, m and s, largest first and each at most once ("30m1h" is refused), so a
duration reads one way only; any number may carry a decimal fraction. A bare number is
seconds. Negative, infinite and not-a-number values are refused: every duration here is
a wait, a timeout or a target, and none of those can be. The inventory asks for whole
seconds on top of this (`orchestrator.inventory.durations`); a runbook's interval may
be a fraction of one.
"""

from __future__ import annotations

import math
import re

UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}

_NUMBER = r"\d+(?:\.\d+)?"
_TEXT = re.compile(
    rf"^(?:(?P<d>{_NUMBER})\s*d)?\s*(?:(?P<h>{_NUMBER})\s*h)?"
    rf"\s*(?:(?P<m>{_NUMBER})\s*m)?\s*(?:(?P<s>{_NUMBER})\s*s)?$",
    re.IGNORECASE,
)
_BARE = re.compile(rf"^{_NUMBER}$")

EXAMPLES = "90s, 30m, 4h, 1h30m, 2d"


def parse_seconds(value: object) -> float:
    """`value` (a number of seconds, or text in the grammar above) as seconds.

    Raises ValueError with a message for the operator; callers add how to write one.
    """
    # bool is an int subclass; `timeout: yes` is a mistake, not one second.
    if isinstance(value, bool):
        raise ValueError("a duration cannot be true/false")
    if isinstance(value, int | float):
        return _finite_and_not_negative(float(value))
    if not isinstance(value, str):
        raise ValueError(f"expected a duration, got {type(value).__name__}")
    text = value.strip()
    if _BARE.match(text):
        return float(text)
    match = _TEXT.match(text)
    if not text or match is None:
        raise ValueError(f"{value!r} is not a duration")
    return sum(float(n) * UNIT_SECONDS[unit] for unit, n in match.groupdict().items() if n)


def format_duration(seconds: float) -> str:
    """Seconds in the same notation, rounded to the second: 5400 -> "1h30m", 0 -> "0s"."""
    remaining = round(seconds)
    if remaining == 0:
        return "0s"
    sign = "-" if remaining < 0 else ""
    remaining = abs(remaining)
    parts = []
    for unit, size in UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def _finite_and_not_negative(seconds: float) -> float:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"a duration must be a finite number of seconds, got {seconds}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds:g}")
    return seconds
