"""`scheduler.service_watch:`: the service watch (orchestrator/service_watch), which
probes each host pair's service every `interval` from where its users sit and journals
when it went down and came back, so that a runbook's RTO clock can start at the first
failed probe rather than when somebody started the runbook:

```yaml
scheduler:
  service_watch:
    interval: 1s          # between probes, per service and vantage point (0.2s to 60s)
    timeout: 1s           # one probe's budget
    vantages: [branch-1, branch-2, orchestrator]   # default: every branch dr can check
```

A vantage is a branch site (checked the way its `check:` says: python3 or a command on a
host there over SSH, or a TCP connection from here to a device there) or
`orchestrator` (an HTTP GET from this machine). Without the section nothing is watched.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from orchestrator.durations import parse_seconds
from orchestrator.inventory.names import Name
from orchestrator.inventory.strict import StrictModel

# The inventory's durations are whole seconds; a probe interval is the one place where
# a fraction matters: the RTO clock is only as exact as the gap between two probes.
MIN_PROBE_S, MAX_PROBE_S = 0.2, 60.0
ORCHESTRATOR = "orchestrator"


def _probe_seconds(value: Any) -> float:
    try:
        seconds = parse_seconds(value)
    except ValueError as err:
        why = {"why": str(err)}
        raise PydanticCustomError("duration", "{why}; write e.g. 1s or 0.5s", why) from None
    if not MIN_PROBE_S <= seconds <= MAX_PROBE_S:
        raise PydanticCustomError(
            "probe_seconds",
            "must be between {low}s and {high}s, got {value}",
            {"low": MIN_PROBE_S, "high": MAX_PROBE_S, "value": value},
        )
    return seconds


ProbeSeconds = Annotated[
    float,
    PlainValidator(_probe_seconds),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": f"seconds ({MIN_PROBE_S} to {MAX_PROBE_S}), or e.g. 1s, 0.5s",
        }
    ),
]


class ServiceWatchSettings(StrictModel):
    """How often, how patiently and from where the service watch probes."""

    interval: ProbeSeconds = 1.0
    timeout: ProbeSeconds = 1.0
    # Branch site names, or "orchestrator"; empty: every branch site. A branch checked by
    # a person or by a switch's view is not probed (the watch says so when it starts).
    vantages: list[Name] = Field(default_factory=list)
