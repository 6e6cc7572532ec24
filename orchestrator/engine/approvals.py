"""Approvals: a person on the step's fixed roster, other than the starter, says yes.

`approve` checks the person before the event is written; the engine checks the event
again (`valid_reason`) before acting on it, so an approval event that did not come
through `approve` (written into the database by hand, or under an older inventory) is
not obeyed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.engine import approval_roster
from orchestrator.engine.approval_roster import Roster, starter_of
from orchestrator.engine.state import RunState
from orchestrator.errors import UserInputError
from orchestrator.identity import Person
from orchestrator.identity.one_time import used_code
from orchestrator.identity.session_records import SIGN_IN_PURPOSE, sign_in_of
from orchestrator.journal import Journal
from orchestrator.journal.records import EventRecord, RunRecord

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

POLL_SECONDS = 2.0
APPROVAL_EVENT = "approval"
REJECTED_EVENT = "approval.rejected"
# A person on the roster says no (the console's "refuse"): the engine stops the run.
REFUSED_EVENT = "approval.refused"
DRILL_PROOF = "drill-roster:auto-confirm"


def approve(
    journal: Journal,
    inventory: Inventory,
    run_id: str,
    step_path: str,
    person: Person,
    note: str = "",
) -> None:
    """Record an approval by `person` (authenticated by the caller), after checking they
    may give it: the inventory is the run's, the step waits, the person is on the roster
    fixed when the step started, and is not the one who started the run."""
    _record(APPROVAL_EVENT, journal, inventory, run_id, step_path, person, note)


def refuse(
    journal: Journal,
    inventory: Inventory,
    run_id: str,
    step_path: str,
    person: Person,
    note: str = "",
) -> None:
    """Record that `person` refuses the step: the same checks as `approve` (only someone
    who could approve may refuse), and the engine then stops the run as declined."""
    _record(REFUSED_EVENT, journal, inventory, run_id, step_path, person, note)


def _record(
    kind: str,
    journal: Journal,
    inventory: Inventory,
    run_id: str,
    step_path: str,
    person: Person,
    note: str,
) -> None:
    run, roster = check_may_approve(journal, inventory, run_id, step_path, person)
    data = _approval_data(run, roster, person, note)
    journal.append(kind, run_id=run_id, step_id=step_path, actor=person.contact, data=data)


def check_may_approve(
    journal: Journal, inventory: Inventory, run_id: str, step_path: str, person: Person
) -> tuple[RunRecord, Roster]:
    """Every check of `approve`, writing nothing: callers run it before they spend
    anything (a one-time code) on an approval that would be refused."""
    run = journal.get_run(run_id)
    check_inventory(inventory, run)
    waiting = [s for s in journal.steps(run_id) if s.step_id == step_path]
    if not waiting or waiting[0].kind != "approval":
        raise UserInputError(f"run {run_id} has no approval step {step_path!r} waiting")
    if waiting[0].status == "succeeded" or find(journal, run_id, step_path, inventory):
        raise UserInputError(f"step {step_path} of run {run_id} is already approved")
    roster = approval_roster.require(journal, run_id, step_path)
    reason = _refusal(run, roster, person.contact, person.login)
    if reason is not None:
        raise UserInputError(reason)
    return run, roster


def check_inventory(inventory: Inventory, run: RunRecord) -> None:
    """An approval is given on the plan as it was started: the same inventory file."""
    if inventory.digest != run.inventory_digest:
        raise UserInputError(
            f"inventory {inventory.source_path or inventory.name} is not the one run {run.id} "
            f"started with (digest {inventory.digest[:12]} ≠ {run.inventory_digest[:12]}): "
            "an approval is given on the plan as it was started; restore that file, or stop "
            "this run and start a new one. / 清单已变更，与运行开始时不一致，不能审批。"
        )


def record_drill_approval(state: RunState, step_path: str, roster: Roster) -> str | None:
    """In an unattended drill, the first of the inventory's `drill.auto_approve_by` who is
    on the fixed roster approves; None if nobody there may (the step then waits)."""
    run = state.record
    for name in state.inventory.drill.auto_approve_by:
        if _refusal(run, roster, name, None) is None:
            contact = state.inventory.contact(name)
            person = Person.of(contact, login=None, proof=DRILL_PROOF)
            data = _approval_data(run, roster, person, "drill: approved by the drill roster")
            state.journal.append(
                APPROVAL_EVENT, run_id=run.id, step_id=step_path, actor=name, data=data
            )
            return name
    return None


def find(
    journal: Journal, run_id: str, step_path: str, inventory: Inventory | None = None
) -> EventRecord | None:
    """The first approval of the step that passes the re-check (a drill roster's
    approval counts only when `inventory` is given: the roster is the inventory's)."""
    run = journal.get_run(run_id)
    roster = approval_roster.fixed(journal, run_id, step_path)
    if roster is None:
        return None
    for event in journal.events(run_id, kinds=(APPROVAL_EVENT,)):
        if event.step_id != step_path:
            continue
        if valid_reason(journal, run, roster, event, inventory) is None:
            return event
    return None


def wait_for(state: RunState, step_path: str, *, poll: bool) -> EventRecord | None:
    """The approval (or refusal) if given; with `poll`, keep looking until it comes or a
    pause is asked.
    Approvals that fail the re-check are journaled as rejected and never obeyed."""
    while True:
        found = _checked(state, step_path)
        if found is not None or not poll:
            return found
        if state.pause_requested.wait(POLL_SECONDS):
            return None


def _checked(state: RunState, step_path: str) -> EventRecord | None:
    journal, run = state.journal, state.record
    roster = approval_roster.fixed(journal, run.id, step_path)
    if roster is None:
        return None
    rejected = {
        int((e.data or {}).get("approval_seq", -1))
        for e in journal.events(run.id, kinds=(REJECTED_EVENT,))
    }
    # A refusal passes the same re-check as an approval; whichever came first counts.
    for event in journal.events(run.id, kinds=(APPROVAL_EVENT, REFUSED_EVENT)):
        if event.step_id != step_path or event.seq in rejected:
            continue
        reason = valid_reason(journal, run, roster, event, state.inventory)
        if reason is None:
            return event
        journal.append(
            REJECTED_EVENT,
            run_id=run.id,
            step_id=step_path,
            actor="dr",
            data={"approval_seq": event.seq, "approved_by": event.actor, "reason": reason},
        )
    return None


def valid_reason(
    journal: Journal,
    run: RunRecord,
    roster: Roster,
    event: EventRecord,
    inventory: Inventory | None = None,
) -> str | None:
    """Why the engine must not act on this approval event, or None if it may."""
    data = event.data or {}
    actor = event.actor or ""
    login = data.get("login")
    refusal = _refusal(run, roster, actor, login if isinstance(login, str) else None)
    if refusal is not None:
        return refusal
    if data.get("inventory_digest") != run.inventory_digest:
        return "the approval was given on another inventory than the run's"
    if data.get("roster_seq") != roster.seq:
        return "the approval does not refer to the roster fixed when the step started"
    proof = str(data.get("proof") or "")
    if proof.startswith("one-time-code:"):
        used = used_code(journal, proof.removeprefix("one-time-code:"))
        if used != (run.id, event.step_id, actor, "approval"):
            return f"no redeemed one-time code for {actor} at this step backs the approval"
    elif proof == DRILL_PROOF:
        allowed = inventory.drill.auto_approve_by if inventory is not None else []
        if run.mode != "drill" or not run.options.get("auto_confirm") or actor not in allowed:
            return "a drill-roster approval outside an unattended drill, or by someone else"
    elif proof.startswith("console:"):
        return _console_reason(journal, proof.removeprefix("console:"), actor)
    elif not proof.startswith("os-account:"):
        return f"the approval carries no proof of who gave it ({proof or 'none'})"
    return None


def _console_reason(journal: Journal, public_id: str, actor: str) -> str | None:
    """An approval given on the console: its session must exist, be the approver's, and
    have begun with a sign-in code the approver redeemed (mailed, or from `dr serve
    link` at their own OS account)."""
    session = sign_in_of(journal, public_id)
    if session is None or session[0] != actor:
        return f"no console session of {actor} backs the approval"
    contact, signed_in_by = session
    if signed_in_by.startswith("one-time-code:"):
        used = used_code(journal, signed_in_by.removeprefix("one-time-code:"))
        if used is None or used[2] != contact or used[3] != SIGN_IN_PURPOSE:
            return f"the console session of {actor} began with no sign-in code they redeemed"
        return None
    return f"the console session of {actor} carries no proof of sign-in ({signed_in_by})"


def _refusal(run: RunRecord, roster: Roster, contact: str, login: str | None) -> str | None:
    starter, starter_login = starter_of(run)
    if not contact:
        return (
            f"OS account {login!r} is no contact of the inventory and can approve nothing: "
            "add `login:` to the approver's contact. / 该账户未对应任何联系人，不能审批。"
        )
    if contact == starter or (login is not None and login == starter_login):
        return (
            f"{contact} started run {run.id} and cannot also approve it: an approval must "
            "come from a different person / 发起人不能审批自己的运行"
        )
    if contact not in roster.members:
        members = ", ".join(roster.members) or "nobody"
        level = roster.incident_level
        on_level = (
            f" and on the {level} roster (fixed when the step started) / "
            f"{level}级预警须由该级应急领导小组成员审批"
            if level in ("orange", "red")
            else ""
        )
        return (
            f"{contact} may not approve this step: it is approved by role "
            f"{roster.role!r}{on_level}; who may: {members} / 不在本步骤的审批名单中"
        )
    return None


def _approval_data(run: RunRecord, roster: Roster, person: Person, note: str) -> dict[str, object]:
    return {
        "role": roster.role,
        "note": note,
        "proof": person.proof,
        "login": person.login,
        "roster_seq": roster.seq,
        "incident_id": run.incident_id,
        "incident_level": roster.incident_level,
        "inventory_digest": run.inventory_digest,
    }
