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
- **unbatched_lost**: lost rows in no batch: never reported; no message may be generated
  from them (a message entered before the loss would report a row that is gone), and
  after re-entry the normal generation reports the re-entered rows.

A row is matched by kind, key and the row's own time: after a failover an id can be
reused by another row, which must not be mistaken for the lost one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from orchestrator.credit.model import KIND_OF_TABLE, Batch, RecordKind, SourceRecord
from orchestrator.credit.reconcile import classify
from orchestrator.errors import UserInputError

# The kinds a lost-transactions list may name (its kinds are the inventory's labels).
_KIND_NAMES: dict[str, RecordKind] = {
    "loan": "loan_open",
    "loan_open": "loan_open",
    "repayment": "repayment",
}


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
    # The institution's zone (the inventory's): the zone the report shows times in.
    timezone: str = "UTC"

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
            "timezone": self.timezone,
        }


def aftermath(
    batches: Iterable[Batch],
    lost_records: Iterable[SourceRecord],
    changed_records: Iterable[SourceRecord] = (),
    *,
    now: datetime,
    feedback_within: timedelta,
    source: dict[str, str] | None = None,
    timezone: str = "UTC",
) -> Aftermath:
    lost, changed = _Index(lost_records), _Index(changed_records)
    result = Aftermath(computed_at=now, source=source or {}, timezone=timezone)
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
    """Rows of the lost-transactions list as the source records messages name.

    Each row has a kind (loan or repayment; loan_open is taken too) or a table (loans,
    repayments), a key, and the row's own time as ``at`` (as the lost-transactions list
    writes it) or ``row_at``: a datetime or ISO 8601 text with offset. Branch, amount and
    reason may be there and are not needed. Raises UserInputError naming the row."""
    records = []
    for index, row in enumerate(rows):
        where = f"lost record {index + 1}"
        kind = _KIND_NAMES.get(str(row.get("kind", ""))) or KIND_OF_TABLE.get(
            str(row.get("table", ""))
        )
        if kind is None:
            raise UserInputError(
                f"{where}: kind {row.get('kind')!r} / table {row.get('table')!r} carries no "
                "report messages; give kind loan or repayment (or table loans or repayments)"
            )
        key = row.get("key", row.get("id"))
        if isinstance(key, bool) or not isinstance(key, int | str) or not str(key).isdigit():
            raise UserInputError(f"{where}: key {key!r} is not a row id (a whole number)")
        moment = _moment(row.get("at", row.get("row_at")), where)
        records.append(SourceRecord(kind, int(key), moment))
    return records


def split_lost_and_changed(
    document: Any,
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(lost rows, changed rows) from any of: a list of rows (all lost); an object with
    ``lost`` and ``changed`` lists; a journaled lost-transactions record (``rows``, each
    with a ``reason``: missing or replaced is lost, changed is changed); or the JSON of
    `dr report lost-transactions` (its ``lists`` of such records)."""
    if isinstance(document, list):
        return _rows(document, "the list"), []
    if not isinstance(document, dict):
        raise UserInputError("expected a JSON list of rows or an object; see `--lost`'s help")
    if "lists" in document:
        lost: list[Mapping[str, Any]] = []
        changed: list[Mapping[str, Any]] = []
        for record in _rows(document["lists"], "lists"):
            more = split_lost_and_changed(record)
            lost, changed = lost + more[0], changed + more[1]
        return lost, changed
    if "rows" in document:
        rows = _rows(document["rows"], "rows")
        return (
            [r for r in rows if r.get("reason", "missing") != "changed"],
            [r for r in rows if r.get("reason") == "changed"],
        )
    return _rows(document.get("lost", []), "lost"), _rows(document.get("changed", []), "changed")


def _rows(value: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise UserInputError(f"`{name}` must be a list of objects (kind or table, key, at)")
    return value


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
            raise UserInputError(f"{where}: time {value!r} is not ISO 8601") from None
    else:
        raise UserInputError(f"{where}: no `at`: give the row's own time (ISO 8601)")
    if moment.tzinfo is None:
        raise UserInputError(f"{where}: time {value!r} has no offset (write +08:00 or Z)")
    return moment
