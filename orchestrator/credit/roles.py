"""The two roles of art. 28: one person generates a batch, another submits it, and the
two swap roles periodically "against leaks and tampering". dr warns; it does not refuse,
since the batch is already sent and the warning is what the auditor needs to see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from orchestrator.credit.model import Batch
from orchestrator.inventory.credit_reporting import CreditRoles
from orchestrator.text import Text


@dataclass(frozen=True)
class RoleWarning:
    code: str  # same_person | rotation_overdue
    text: Text
    batch_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "batch_id": self.batch_id, **self.text.to_dict()}


def same_person_warnings(batches: Iterable[Batch]) -> list[RoleWarning]:
    """A batch generated and submitted by one person."""
    found = []
    for batch in batches:
        person = batch.generated_by
        if person is not None and person == batch.submitted_by:
            found.append(
                RoleWarning(
                    "same_person",
                    Text(
                        f"批次 {batch.batch_id} 由 {person} 一人生成并上报；第二十八条要求"
                        "生成与上报分别由A、B角负责",
                        f"batch {batch.batch_id} was both generated and submitted by "
                        f"{person}; art. 28 gives generation and submission to two people "
                        "(A and B roles)",
                    ),
                    batch.batch_id,
                )
            )
    return found


def rotation_warning(roles: CreditRoles, today: date) -> RoleWarning | None:
    """The A and B roles are past their swap date."""
    due = roles.rotation_due()
    if today <= due:
        return None
    days = (today - due).days
    return RoleWarning(
        "rotation_overdue",
        Text(
            f"报文生成与上报角色（{roles.generator} / {roles.submitter}）上次交换于 "
            f"{roles.rotated_on}，应于 {due} 前交换，已逾期 {days} 天（第二十八条）；交换后"
            "更新清单中的 credit_reporting.roles",
            f"the message roles (generator {roles.generator}, submitter {roles.submitter}) "
            f"were last swapped on {roles.rotated_on} and were due to swap by {due}: "
            f"{days} day(s) overdue (art. 28); swap them and update "
            "credit_reporting.roles in the inventory",
        ),
    )


def role_warnings(
    batches: Iterable[Batch], roles: CreditRoles | None, today: date
) -> list[RoleWarning]:
    found = same_person_warnings(batches)
    overdue = rotation_warning(roles, today) if roles is not None else None
    return [*found, *([overdue] if overdue else [])]
