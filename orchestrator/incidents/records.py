"""An incident as read back from the records database (a plain value)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator.incidents.rules import Grade, Scope
from orchestrator.inventory.field_types import AlertCategory, AlertLevel


@dataclass(frozen=True)
class Aftermath:
    """What an incident leaves owed besides the regulator's first reports (clocks.py).

    Times are ISO strings in UTC, dates ISO dates in the inventory's zone, as stored.
    """

    # The immediate report (a major loss, or a run of the incident failed): from when.
    immediate_from: str | None = None
    immediate_cause: str | None = None
    # Reporting day (YYYY-MM-DD) -> {source: when it was added}; sources: "outage",
    # "operator", "lost-transactions", or whatever a caller names.
    reporting_days: dict[str, dict[str, str]] = field(default_factory=dict)
    # The branch sites affected; empty: every branch site of the inventory.
    branches: tuple[str, ...] = ()
    # Branch -> {"important": when, "all": when}: its re-entry (补录) confirmed.
    reentered: dict[str, dict[str, str]] = field(default_factory=dict)
    # Recorded before dr tracked these clocks: once closed it owes nothing new (else the
    # first tick after an upgrade would call every old incident's fault report overdue).
    legacy: bool = False

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["branches"] = list(self.branches)
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> Aftermath:
        if doc is None:
            return cls(legacy=True)
        return cls(
            immediate_from=doc.get("immediate_from"),
            immediate_cause=doc.get("immediate_cause"),
            reporting_days={k: dict(v) for k, v in (doc.get("reporting_days") or {}).items()},
            branches=tuple(doc.get("branches") or ()),
            reentered={k: dict(v) for k, v in (doc.get("reentered") or {}).items()},
            legacy=bool(doc.get("legacy", False)),
        )


@dataclass(frozen=True)
class Incident:
    id: str
    inventory_name: str
    inventory_path: str | None
    category: AlertCategory
    level: AlertLevel
    level_since: datetime
    grade: Grade | None
    summary: str
    status: str  # "open" or "closed"
    started_at: datetime
    opened_by: str
    scope: Scope
    closed_at: datetime | None = None
    closed_by: str | None = None
    resolution: str | None = None
    outage_started_at: datetime | None = None
    outage_ended_at: datetime | None = None
    last_progress_at: datetime | None = None
    on_site: dict[str, str] = field(default_factory=dict)  # contact name -> ISO time
    deadlines_met: dict[str, str] = field(default_factory=dict)  # deadline key -> ISO time
    aftermath: Aftermath = field(default_factory=Aftermath)
    version: int = 1

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def outage_seconds(self, now: datetime) -> float:
        """How long business has been stopped (to `now`, or to when it was restored)."""
        if self.outage_started_at is None:
            return 0.0
        end = self.outage_ended_at or now
        return max(0.0, (end - self.outage_started_at).total_seconds())

    @property
    def restored_at(self) -> datetime | None:
        """When the fault was cleared: business restored, or else the incident closed."""
        return self.outage_ended_at or self.closed_at

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["aftermath"] = self.aftermath.to_dict()
        for key, value in doc.items():
            if isinstance(value, datetime):
                doc[key] = value.isoformat()
        return doc

    @classmethod
    def from_row(cls, row: Any) -> Incident:
        r = row._mapping
        return cls(
            id=r["id"],
            inventory_name=r["inventory_name"],
            inventory_path=r["inventory_path"],
            category=r["category"],
            level=r["level"],
            level_since=parse_time(r["level_since"]),
            grade=r["grade"],
            summary=r["summary"],
            status=r["status"],
            started_at=parse_time(r["started_at"]),
            opened_by=r["opened_by"],
            scope=Scope(**r["scope"]),
            closed_at=parse_optional(r["closed_at"]),
            closed_by=r["closed_by"],
            resolution=r["resolution"],
            outage_started_at=parse_optional(r["outage_started_at"]),
            outage_ended_at=parse_optional(r["outage_ended_at"]),
            last_progress_at=parse_optional(r["last_progress_at"]),
            on_site=dict(r["on_site"]),
            deadlines_met=dict(r["deadlines_met"]),
            # None: a row written before the column existed.
            aftermath=Aftermath.from_dict(r.get("aftermath")),
            version=r["version"],
        )


@dataclass(frozen=True)
class NoticeRecord:
    """One notification an incident owed, and what became of it."""

    incident_id: str
    key: str
    kind: str
    status: str  # pending, sending, delivered, partial, failed
    due_at: str
    level: str
    detail: dict[str, Any]
    claimed_at: str | None
    finished_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_optional(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
