"""The roster of an approval step, fixed in the journal when the step starts.

Who may approve is decided once, from the inventory and the linked incident's level at
that moment, and journaled (`approval.roster`). Approvals are checked against that event,
so lowering the incident's level afterwards, approving, and raising it again changes
nothing: the roster was already fixed at orange or red.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UserInputError
from orchestrator.incidents import IncidentStore
from orchestrator.incidents.rules import LEADERSHIP_APPROVAL_LEVELS
from orchestrator.journal import Journal
from orchestrator.journal.records import RunRecord

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

ROSTER_EVENT = "approval.roster"


@dataclass(frozen=True)
class Roster:
    seq: int  # the journal event that fixed it
    role: str
    members: tuple[str, ...]
    incident_id: str | None
    incident_level: str | None
    inventory_digest: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "members": list(self.members),
            "incident_id": self.incident_id,
            "incident_level": self.incident_level,
            "inventory_digest": self.inventory_digest,
        }


def starter_of(run: RunRecord) -> tuple[str, str | None]:
    """(contact name or "", OS login) of the person who started the run."""
    starter = run.options.get("starter") or {}
    if starter:
        return str(starter.get("contact") or ""), starter.get("login")
    # Runs started before identities: only the recorded name is known.
    return run.started_by, None


def fixed(journal: Journal, run_id: str, step_path: str) -> Roster | None:
    """The roster fixed for this step, if the step has started."""
    found = None
    for event in journal.events(run_id, kinds=(ROSTER_EVENT,)):
        if event.step_id == step_path:
            found = event  # the first one counts: a resume never refixes it
            break
    if found is None:
        return None
    data = found.data or {}
    return Roster(
        seq=found.seq,
        role=str(data["role"]),
        members=tuple(data["members"]),
        incident_id=data.get("incident_id"),
        incident_level=data.get("incident_level"),
        inventory_digest=str(data["inventory_digest"]),
    )


def fix(
    journal: Journal, inventory: Inventory, run: RunRecord, step_path: str, role: str
) -> Roster:
    """The step's roster: fixed now if it is not yet (a resumed run keeps its first)."""
    existing = fixed(journal, run.id, step_path)
    if existing is not None:
        return existing
    holders = [c.name for c in inventory.contacts if c.role == role]
    level = _incident_level(journal, run.incident_id)
    if level in LEADERSHIP_APPROVAL_LEVELS:
        # At orange and red the leadership group approves the plan (seed 001 §4.1.3-4.1.4):
        # a role holder who is also on that level's escalation roster.
        on_level = set(inventory.escalation.get(level, []))
        holders = [name for name in holders if name in on_level]
    starter, _ = starter_of(run)
    members = tuple(name for name in holders if name != starter)
    data = {
        "role": role,
        "members": list(members),
        "incident_id": run.incident_id,
        "incident_level": level,
        "inventory_digest": inventory.digest,
        "starter_excluded": starter,
    }
    journal.append(ROSTER_EVENT, run_id=run.id, step_id=step_path, actor="dr", data=data)
    roster = fixed(journal, run.id, step_path)
    assert roster is not None
    return roster


def require(journal: Journal, run_id: str, step_path: str) -> Roster:
    roster = fixed(journal, run_id, step_path)
    if roster is None:
        raise UserInputError(
            f"step {step_path} of run {run_id} has no roster fixed in the journal (it has not "
            f"started, or the run predates fixed rosters): `dr resume {run_id}` starts it. / "
            "该审批步骤尚未开始，审批名单未确定。"
        )
    return roster


def _incident_level(journal: Journal, incident_id: str | None) -> str | None:
    if incident_id is None:
        return None
    store = IncidentStore(journal)
    try:
        return store.get(incident_id).level
    finally:
        store.dispose()
