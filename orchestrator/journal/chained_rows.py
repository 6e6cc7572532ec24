"""Steps and measurements as the chain says they are, checked against their tables.

The `steps` and `measurements` tables are projections kept for fast queries; the chain
does not cover them, so a person with database access could edit an RTO there and leave
every hash intact. Whatever is printed for an auditor is therefore derived from the
chained events (`step.*`, `measurement`), and each table row is compared with what its
events say: a row that differs means the table was edited, and the reader is refused
(JournalUnverified, exit code 5) rather than handed either version.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import JournalUnverified
from orchestrator.journal.records import EventRecord, MeasurementRecord, StepRecord
from orchestrator.journal.statuses import WORST_FIRST
from orchestrator.journal.store import Journal

# The statuses Journal.step_finished writes as `step.<status>`: its events, and only
# those, are what the `steps` table projects.
_STATUSES = frozenset(WORST_FIRST)

_STEP_FIELDS = ("kind", "status", "attempts", "started_at", "finished_at", "result", "error")
_MEASUREMENT_FIELDS = (
    "name",
    "value_seconds",
    "target_seconds",
    "met",
    "source",
    "detail",
    "recorded_at",
)


def verified_steps(journal: Journal, run_id: str) -> list[StepRecord]:
    """The run's steps replayed from its events; refused if the table says otherwise."""
    derived = steps_from_events(journal.events(run_id))
    table = journal.steps(run_id)
    by_key = {(s.step_id, s.host): s for s in derived}
    if len(table) != len(derived):
        _refuse(
            run_id,
            f"the steps table has {len(table)} rows but the chained events record "
            f"{len(derived)} step results",
        )
    for row in table:
        chained = by_key.get((row.step_id, row.host))
        if chained is None:
            _refuse(run_id, f"step {row.step_id} {row.host or ''} has no chained event")
        for name in _STEP_FIELDS:
            if _differs(getattr(row, name), getattr(chained, name), name):
                _refuse(
                    run_id,
                    f"step {row.step_id}{' on ' + row.host if row.host else ''}: {name} in "
                    f"the steps table is {getattr(row, name)!r}, the chained event says "
                    f"{getattr(chained, name)!r}",
                )
    return derived


def verified_measurements(journal: Journal, run_id: str) -> list[MeasurementRecord]:
    """The run's measurements from its chained events; refused if the table differs."""
    derived = [
        MeasurementRecord(**{k: e.data.get(k) for k in _MEASUREMENT_FIELDS})  # type: ignore[arg-type]
        for e in journal.events(run_id, kinds=("measurement",))
    ]
    table = journal.measurements(run_id)
    if len(table) != len(derived):
        _refuse(
            run_id,
            f"the measurements table has {len(table)} rows but the chained events record "
            f"{len(derived)} measurements",
        )
    for row, chained in zip(table, derived, strict=True):
        for name in _MEASUREMENT_FIELDS:
            if getattr(row, name) != getattr(chained, name):
                _refuse(
                    run_id,
                    f"measurement {chained.name} ({chained.source}): {name} in the "
                    f"measurements table is {getattr(row, name)!r}, the chained event says "
                    f"{getattr(chained, name)!r}",
                )
    return derived


def steps_from_events(events: list[EventRecord]) -> list[StepRecord]:
    """What the engine's upserts into `steps` made of these events, in the same order."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        status = event.kind.removeprefix("step.")
        if event.step_id is None or (event.kind != "step.started" and status not in _STATUSES):
            continue  # not a step result (step.attempt_failed and the like)
        key = (event.step_id, event.host or "")
        row = rows.setdefault(key, _blank(event))
        if event.kind == "step.started":
            row.update(
                status="running",
                attempts=event.data.get("attempt", 0),
                started_at=event.at,
                finished_at=None,
                error=None,
            )
        else:
            row.update(
                status=status,
                finished_at=event.at,
                result=event.data.get("result"),
                error=event.data.get("error"),
            )
    return [StepRecord(**row) for row in rows.values()]


def _blank(event: EventRecord) -> dict[str, Any]:
    return {
        "step_id": event.step_id,
        "host": event.host or "",
        "kind": event.data.get("kind", ""),
        "status": "",
        "attempts": 0,
        "started_at": None,
        "finished_at": None,
        "result": None,
        "error": None,
    }


def _differs(table: Any, chained: Any, name: str) -> bool:
    if name in ("started_at", "finished_at") and table and chained:
        # Rows written before the event and its row shared one clock reading differ by
        # the microseconds between two readings; more than a second is an edit.
        from datetime import datetime

        gap = datetime.fromisoformat(table) - datetime.fromisoformat(chained)
        return abs(gap.total_seconds()) > 1.0
    return bool(table != chained)


def _refuse(run_id: str, what: str) -> None:
    raise JournalUnverified(
        f"run {run_id}: {what}. The table was changed after the event was written; "
        "nothing is printed from it. Run `dr journal verify` and investigate. / "
        f"运行 {run_id} 的记录与哈希链中的事件不一致（表被改动），拒绝输出；"
        "请运行 `dr journal verify` 并调查。"
    )
