"""Plain value objects read back from the journal."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator import verdicts


@dataclass(frozen=True)
class RunRecord:
    id: str
    runbook: str
    runbook_digest: str
    mode: str
    status: str
    inventory_path: str
    inventory_digest: str
    inventory_name: str
    environment: str
    started_by: str
    started_at: str
    reason: str | None = None
    incident_id: str | None = None
    finished_at: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None
    owner_pid: int | None = None
    owner_host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StepRecord:
    step_id: str
    host: str
    kind: str
    status: str
    attempts: int
    started_at: str | None
    finished_at: str | None
    result: Any
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MeasurementRecord:
    name: str
    value_seconds: float | None
    target_seconds: float | None
    met: bool | None
    source: str
    detail: dict[str, Any]
    recorded_at: str

    @classmethod
    def judged(
        cls,
        name: str,
        value: float | None,
        target: float | None,
        *,
        source: str,
        detail: dict[str, Any],
    ) -> MeasurementRecord:
        """A figure taken now, judged against its target by the one verdict rule."""
        return cls(
            name=name,
            value_seconds=None if value is None else round(value, 3),
            target_seconds=None if target is None else float(target),
            met=verdicts.met(value, target),
            source=source,
            detail=detail,
            recorded_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EventRecord:
    seq: int
    run_id: str | None
    at: str
    kind: str
    step_id: str | None
    host: str | None
    actor: str | None
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> EventRecord:
        """From a row of the `events` table (data is stored as JSON text)."""
        return cls(
            seq=row.seq,
            run_id=row.run_id,
            at=row.at,
            kind=row.kind,
            step_id=row.step_id,
            host=row.host,
            actor=row.actor,
            data=json.loads(row.data),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
