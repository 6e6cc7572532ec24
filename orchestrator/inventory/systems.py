"""The institution's systems and the order they come back in after a site is lost.

A recovery plan (as VMware SRM's are) brings systems up in priority groups, and within
them after what each depends on: the credit database before the credit service, the
service before the report-message (报文) gateway that sends its output on. Each system
says how `dr` recovers it at the surviving site:

    systems:
    - name: credit-db
      priority: 1
      recover: {database: credit-pitr}        # point-in-time restore of this pgBackRest set
    - name: credit-report
      priority: 2
      depends_on: [credit-db]
      recover: {service: credit}              # the pair's service, started there, VIP moved
    - name: report-messages
      priority: 3
      depends_on: [credit-report]
      recover: {files: credit-local, into: /srv/recovered}  # under into/, checked
    - name: teller-gateway
      priority: 3
      recover:
        manual:                               # what dr cannot do: a person does it
          zh: 在灾备机房启动前置机并确认报文发送正常
          en: Start the front-end machine at the backup room and check messages flow

Names used here (sets, pairs, other systems) are checked by `references`, with lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from orchestrator.errors import UserInputError
from orchestrator.inventory.field_types import AbsolutePath
from orchestrator.inventory.names import Name
from orchestrator.inventory.strict import StrictModel

# SRM's five priority groups: 1 comes back first.
PRIORITY_GROUPS = 5


class ManualText(StrictModel):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class RecoverDatabase(StrictModel):
    """Restore a `postgres-pitr` set's cluster at the surviving site."""

    database: Name


class RecoverService(StrictModel):
    """Start a host pair's service on the host the database came back on; move its VIP."""

    service: Name


class RecoverFiles(StrictModel):
    """Restore a restic set's newest good run at the surviving site, under `into` (each
    file at its original path below it), verified against the run's manifest."""

    files: Name
    into: AbsolutePath


class RecoverManual(StrictModel):
    """A step only a person can take; the run waits for their confirmation."""

    manual: ManualText


def _recovery_tag(value: Any) -> str | None:
    keys = set(value) if isinstance(value, dict) else set()
    for key in ("database", "service", "files", "manual"):
        if key in keys or hasattr(value, key):
            return key
    return None


SystemRecovery = Annotated[
    Annotated[RecoverDatabase, Tag("database")]
    | Annotated[RecoverService, Tag("service")]
    | Annotated[RecoverFiles, Tag("files")]
    | Annotated[RecoverManual, Tag("manual")],
    Discriminator(
        _recovery_tag,
        custom_error_type="system_recovery",
        custom_error_message=(
            "'recover:' needs one of database: SET, service: PAIR, files: SET or "
            "manual: {zh: ..., en: ...}"
        ),
    ),
]


class System(StrictModel):
    name: Name
    description: str | None = None
    priority: int = Field(default=3, ge=1, le=PRIORITY_GROUPS)
    depends_on: list[Name] = []
    recover: SystemRecovery


def recovery_order(systems: Iterable[System]) -> list[System]:
    """Every system after all it depends on; among those ready at once, the lower
    priority group first, then the order written. A cycle is an error naming it."""
    pending = list(systems)
    written = {s.name: i for i, s in enumerate(pending)}
    done: set[str] = set()
    ordered: list[System] = []
    while pending:
        ready = [s for s in pending if all(d in done or d not in written for d in s.depends_on)]
        if not ready:
            # Loading reports the circle itself, with lines (references._systems);
            # this only guards an inventory built in code.
            names = ", ".join(sorted(s.name for s in pending))
            raise UserInputError(
                f"systems {names} depend on each other in a circle; break it in the "
                "inventory's systems: depends_on"
            )
        first = min(ready, key=lambda s: (s.priority, written[s.name]))
        ordered.append(first)
        done.add(first.name)
        pending.remove(first)
    return ordered
