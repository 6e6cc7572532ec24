"""The inventory's durations: the one grammar (`orchestrator.durations`), in whole seconds.

Nothing in an inventory needs sub-second precision (RTO/RPO targets, UPS runtimes,
generator settling times), and integers compare and print exactly, which matters when a
report says whether a target was met. So "1.5h" is 5400, and "0.5s" is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from orchestrator.durations import EXAMPLES, format_duration, parse_seconds

__all__ = ["Duration", "format_duration", "parse_duration"]

_HINT = f"write e.g. {EXAMPLES} or a whole number of seconds"


def parse_duration(value: object) -> int:
    """Return `value` as whole seconds; raise ValueError with an operator-facing message."""
    try:
        seconds = parse_seconds(value)
    except ValueError as err:
        raise ValueError(f"{err}; {_HINT}") from None
    if not seconds.is_integer():
        raise ValueError(f"a duration is a whole number of seconds, got {value!r}; {_HINT}")
    return int(seconds)


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
            "description": f"seconds, or e.g. {EXAMPLES}",
        }
    ),
]
"""A pydantic field type: accepts the notations above, stores whole seconds."""
