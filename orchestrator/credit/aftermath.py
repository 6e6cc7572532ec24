"""After a recovery that lost or changed data: which report messages must be redone.

Given the batches (sources.load_batches) and the source rows the recovery lost (the
lost-transactions list: table, key, row time, branch, amount) or changed:

- **regenerate**: every batch carrying a lost or changed row: its content no longer
  matches the database (after re-entry, 补录, the rows come back with new ids and times);
- **resubmit**: every submitted batch carrying such a row (the centre holds what the
  institution no longer has: correct it, art. 21), never acknowledged (feedback missing
  past the allowed time), or with rejected records (correct and re-submit at once);
- **feedback_missing** and **awaiting_feedback**: submitted batches without feedback,
  past or within the allowed time;
- **unbatched_lost**: lost rows in no batch: never reported, so re-entry and the normal
  generation cover them.

A row is matched by kind, key and the row's own time: after a failover an id can be
reused by another row, which must not be mistaken for the lost one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from orchestrator.credit.model import KIND_OF_TABLE, RECORD_KINDS, Batch, SourceRecord
from orchestrator.credit.reconcile import classify
from orchestrator.errors import UserInputError


@dataclass(frozen=True)
class AffectedBatch:
    batch_id: str
    state: str
    generated_by: str | None
    submitted_by: str | None
    reasons: tuple[str, ...]  # lost_records | changed_records | never_acknowledged | rejected
    lost: tuple[SourceRecord, ...] = ()
    changed: tuple[SourceRecord, ...] = ()
    rejected: tuple[str, ...] = ()  # "repayment 456 (E201)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "state": self.state,
            "generated_by": self.generated_by,
            "submitted_by": self.submitted_by,
            "reasons": list(self.reasons),
            "lost": [r.to_dict() for r in self.lost],
            "changed": [r.to_dict() for r in self.changed],
            "rejected": list(self.rejected),
        }


@dataclass(frozen=True)
class Aftermath:
    computed_at: datetime
    regenerate: list[AffectedBatch] = field(default_factory=list)
    resubmit: list[AffectedBatch] = field(default_factory=list)
    feedback_missing: list[str] = field(default_factory=list)
    awaiting_feedback: list[str] = field(default_factory=list)
    unbatched_lost: list[SourceRecord] = field(default_factory=list)
    # Where the batches were read (role -> directory), for the report's first page.
    source: dict[str, str] = field(default_factory=dict)

    @property
    def owed(self) -> bool:
        return bool(self.regenerate or self.resubmit or self.feedback_missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "credit-aftermath",
            "computed_at": self.computed_at.isoformat(),
            "owed": self.owed,
            "regenerate": [b.to_dict() for b in self.regenerate],
            "resubmit": [b.to_dict() for b in self.resubmit],
            "feedback_missing": list(self.feedback_missing),
            "awaiting_feedback": list(self.awaiting_feedback),
            "unbatched_lost": [r.to_dict() for r in self.unbatched_lost],
            "source": dict(self.source),
        }


def aftermath(
    batches: Iterable[Batch],
    lost_records: Iterable[SourceRecord],
    changed_records: Iterable[SourceRecord] = (),
    *,
    now: datetime,
    feedback_within: timedelta,
    source: dict[str, str] | None = None,
) -> Aftermath:
    lost, changed = _Index(lost_records), _Index(changed_records)
    result = Aftermath(computed_at=now, source=source or {})
    found_lost: set[SourceRecord] = set()
    for batch in batches:
        status = classify(batch, now, feedback_within)
        batch_lost = tuple(r for r in batch.records if lost.has(r))
        batch_changed = tuple(r for r in batch.records if changed.has(r) and r not in batch_lost)
        found_lost.update(lost.matching(r) for r in batch_lost)
        rejected = tuple(f"{r.kind} {r.key} ({r.reason_code})" for r in status.rejected)
        reasons = [
            *(["lost_records"] if batch_lost else []),
            *(["changed_records"] if batch_changed else []),
        ]

        base = AffectedBatch(
            batch.batch_id,
            status.state,
            batch.generated_by,
            batch.submitted_by,
            (),
            batch_lost,
            batch_changed,
            rejected,
        )
        if reasons:
            result.regenerate.append(replace(base, reasons=tuple(reasons)))
        if status.state == "feedback_missing":
            result.feedback_missing.append(batch.batch_id)
            reasons.append("never_acknowledged")
        elif status.state == "awaiting_feedback":
            result.awaiting_feedback.append(batch.batch_id)
        if rejected:
            reasons.append("rejected")
        if batch.submission is not None and reasons:
            result.resubmit.append(replace(base, reasons=tuple(reasons)))
    result.unbatched_lost.extend(r for r in lost.records if r not in found_lost)
    return result


def records_from_lost_transactions(rows: Iterable[Mapping[str, Any]]) -> list[SourceRecord]:
    """The lost-transactions list (each row with table, key, row_at; branch and amount
    are carried but not needed here) as the source records messages name.

    `table` is loans or repayments (a kind, loan_open or repayment, is taken too);
    `row_at` a datetime or ISO 8601 text with offset. Raises UserInputError naming the
    row at fault."""
    records = []
    for index, row in enumerate(rows):
        where = f"lost record {index + 1}"
        table = str(row.get("table", row.get("kind", "")))
        kind = KIND_OF_TABLE.get(table) or next((k for k in RECORD_KINDS if k == table), None)
        if kind is None:
            raise UserInputError(
                f"{where}: table {table!r} carries no report messages; use loans or repayments"
            )
        key = row.get("key", row.get("id"))
        if isinstance(key, bool) or not isinstance(key, int | str) or not str(key).isdigit():
            raise UserInputError(f"{where}: key {key!r} is not a row id (a whole number)")
        records.append(SourceRecord(kind, int(key), _moment(row.get("row_at"), where)))
    return records


class _Index:
    """Records by (kind, key); a match also needs equal row times."""

    def __init__(self, records: Iterable[SourceRecord]) -> None:
        self.records = list(dict.fromkeys(records))
        self._by_identity: dict[tuple[str, int], list[SourceRecord]] = {}
        for record in self.records:
            self._by_identity.setdefault(record.identity, []).append(record)

    def matching(self, record: SourceRecord) -> SourceRecord:
        return next(r for r in self._by_identity[record.identity] if r.row_at == record.row_at)

    def has(self, record: SourceRecord) -> bool:
        return any(r.row_at == record.row_at for r in self._by_identity.get(record.identity, []))


def _moment(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise UserInputError(f"{where}: row_at {value!r} is not an ISO 8601 time") from None
    else:
        raise UserInputError(f"{where}: row_at is missing; give the row's own timestamp")
    if moment.tzinfo is None:
        raise UserInputError(f"{where}: row_at {value!r} has no offset (write +08:00 or Z)")
    return moment
