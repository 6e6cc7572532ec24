"""Approvals: a person holding the required role, other than the starter, says yes."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

from orchestrator.engine.state import RunState
from orchestrator.errors import UserInputError
from orchestrator.incidents import IncidentStore
from orchestrator.incidents.rules import LEADERSHIP_APPROVAL_LEVELS
from orchestrator.journal import Journal
from orchestrator.journal.records import EventRecord

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

POLL_SECONDS = 2.0


def approve(
    journal: Journal,
    inventory: Inventory,
    run_id: str,
    step_path: str,
    approver: str,
    note: str = "",
) -> None:
    """Record an approval, after checking the approver may give it."""
    run = journal.get_run(run_id)
    waiting = [s for s in journal.steps(run_id) if s.step_id == step_path]
    if not waiting or waiting[0].kind != "approval":
        raise UserInputError(f"run {run_id} has no approval step {step_path!r} waiting")
    if waiting[0].status == "succeeded":
        raise UserInputError(f"step {step_path} of run {run_id} is already approved")
    if approver == run.started_by:
        raise UserInputError(
            f"{approver} started run {run_id} and cannot also approve it: an approval must "
            "come from a different person / 发起人不能审批自己的运行"
        )
    role = str((waiting[0].result or {}).get("role") or "leadership")
    holders = [c.name for c in inventory.contacts if c.role == role]
    if approver not in holders:
        raise UserInputError(
            f"{approver} does not hold role {role!r} in inventory {inventory.name}; "
            f"who does: {', '.join(holders) or 'nobody (add contacts with that role)'}"
        )
    incident_level = _check_incident_roster(journal, inventory, run.incident_id, approver)
    journal.append(
        "approval",
        run_id=run_id,
        step_id=step_path,
        actor=approver,
        data={
            "role": role,
            "note": note,
            "os_user": getpass.getuser(),
            "incident_id": run.incident_id,
            "incident_level": incident_level,
        },
    )


def _check_incident_roster(
    journal: Journal, inventory: Inventory, incident_id: str | None, approver: str
) -> str | None:
    """At orange and red the leadership group approves the plan (seed 001 §4.1.3-4.1.4):
    for a run attached to such an incident, the approver must also be on the roster
    (`escalation`) of the incident's level. Returns the incident's level, if any."""
    if incident_id is None:
        return None
    store = IncidentStore(journal)
    try:
        level = store.get(incident_id).level
    finally:
        store.dispose()
    if level not in LEADERSHIP_APPROVAL_LEVELS:
        return level
    roster = inventory.escalation.get(level, [])
    if approver not in roster:
        members = ", ".join(roster) or f"nobody: fill escalation.{level}"
        raise UserInputError(
            f"incident {incident_id} is at {level}: its plan is approved by the leadership "
            f"group on the {level} roster ({members}); "
            f"{approver} is not on it / {level}级预警须由该级应急领导小组成员审批"
        )
    return level


def find(journal: Journal, run_id: str, step_path: str) -> EventRecord | None:
    for event in journal.events(run_id, kinds=("approval",)):
        if event.step_id == step_path:
            return event
    return None


def wait_for(state: RunState, step_path: str, *, poll: bool) -> EventRecord | None:
    """The approval if given; with `poll`, keep looking until it comes or a pause is asked."""
    while True:
        found = find(state.journal, state.run_id, step_path)
        if found is not None or not poll:
            return found
        if state.pause_requested.wait(POLL_SECONDS):
            return None
