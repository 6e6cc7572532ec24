"""Reconcile the credit system's batches against the credit centre's feedback (art. 29).

Each batch is in exactly one state:

- ``generated_not_submitted``: the A role generated it, the B role has not sent it;
- ``awaiting_feedback``: submitted, no feedback yet, still within the allowed time;
- ``feedback_missing``: submitted, no feedback, past the allowed time: ask the centre,
  or submit again;
- ``answered``: feedback received; its rejected records are to be corrected and
  re-submitted at once (art. 21);
- ``not_submitted_here``: feedback for a batch this system never submitted.

Something is owed when any batch is unsubmitted, its feedback is missing, a record was
rejected, or the files contradict each other (a batch's ``problems``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from orchestrator.credit.model import Batch, RecordResult
from orchestrator.credit.roles import RoleWarning, role_warnings
from orchestrator.inventory.credit_reporting import CreditRoles

BatchState = Literal[
    "generated_not_submitted",
    "awaiting_feedback",
    "feedback_missing",
    "answered",
    "not_submitted_here",
]
STATES: tuple[BatchState, ...] = (
    "generated_not_submitted",
    "awaiting_feedback",
    "feedback_missing",
    "answered",
    "not_submitted_here",
)


@dataclass(frozen=True)
class BatchStatus:
    batch: Batch
    state: BatchState
    # When feedback is due (submitted_at + the allowed time); None before submission.
    feedback_due: datetime | None

    @property
    def rejected(self) -> list[RecordResult]:
        return self.batch.feedback.rejected if self.batch.feedback else []

    @property
    def owed(self) -> bool:
        return (
            self.state in ("generated_not_submitted", "feedback_missing", "not_submitted_here")
            or bool(self.rejected)
            or bool(self.batch.problems)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.batch.to_dict(),
            "state": self.state,
            "feedback_due": self.feedback_due.isoformat() if self.feedback_due else None,
            "owed": self.owed,
        }


@dataclass(frozen=True)
class Reconciliation:
    checked_at: datetime
    feedback_within_s: int
    statuses: list[BatchStatus]
    warnings: list[RoleWarning]
    source: dict[str, str]
    # The institution's time zone: the report shows times in it (the JSON keeps offsets).
    timezone: str = "UTC"

    def in_state(self, state: BatchState) -> list[BatchStatus]:
        return [s for s in self.statuses if s.state == state]

    @property
    def owed(self) -> bool:
        return any(s.owed for s in self.statuses)

    def counts(self) -> dict[str, int]:
        states = Counter(s.state for s in self.statuses)
        answered = [s.batch.feedback for s in self.statuses if s.batch.feedback is not None]
        return {
            "batches": len(self.statuses),
            "records": sum(len(s.batch.records) for s in self.statuses),
            **{state: states.get(state, 0) for state in STATES},
            "accepted_records": sum(len(feedback.accepted) for feedback in answered),
            "rejected_records": sum(len(s.rejected) for s in self.statuses),
            "batches_with_problems": sum(1 for s in self.statuses if s.batch.problems),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "credit-reconciliation",
            "checked_at": self.checked_at.isoformat(),
            "feedback_within_s": self.feedback_within_s,
            "timezone": self.timezone,
            "source": self.source,
            "owed": self.owed,
            "counts": self.counts(),
            "batches": [s.to_dict() for s in self.statuses],
            "rejected_records": [
                {"batch_id": s.batch.batch_id, **r.to_dict()}
                for s in self.statuses
                for r in s.rejected
            ],
            "warnings": [w.to_dict() for w in self.warnings],
        }


def classify(batch: Batch, now: datetime, feedback_within: timedelta) -> BatchStatus:
    submitted_at = batch.submitted_at
    due = submitted_at + feedback_within if submitted_at is not None else None
    if batch.feedback is not None:
        state: BatchState = "answered" if batch.submission is not None else "not_submitted_here"
    elif due is None:
        state = "generated_not_submitted"
    elif now <= due:
        state = "awaiting_feedback"
    else:
        state = "feedback_missing"
    return BatchStatus(batch, state, due)


def reconcile(
    batches: list[Batch],
    *,
    now: datetime,
    feedback_within: timedelta,
    roles: CreditRoles | None = None,
    source: dict[str, str] | None = None,
    timezone: str = "UTC",
) -> Reconciliation:
    """Classify every batch at `now` and gather the role warnings (art. 28); the rotation
    date is compared with the institution's day (`timezone`)."""
    statuses = [classify(batch, now, feedback_within) for batch in batches]
    today = now.astimezone(ZoneInfo(timezone)).date()
    return Reconciliation(
        checked_at=now,
        feedback_within_s=int(feedback_within.total_seconds()),
        statuses=statuses,
        warnings=role_warnings(batches, roles, today),
        source=source or {},
        timezone=timezone,
    )
