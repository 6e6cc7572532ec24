"""`dr incident tick`: what time does to open incidents, applied once.

For each open incident of the inventory, at the moment `now` (a clock the caller sets;
tests move it, the scheduler passes the wall clock):
1. follow the alert levels its runs declared (only ever raising);
2. escalate by the seed's time rules, one level per elapsed period, each step dated when
   it fell due (a tick after a long pause catches up exactly);
3. re-assess the grade from scope and outage length (only ever raising);
4. start the immediate report (major loss, a failed run) and add the reporting days a
   credit-system outage spans (aftermath_tick.py);
5. record every notice now owed (level reached, grade, deadline reminder, overdue, an
   approval its orange/red runs wait for, a manual-fallback tier) under a unique key: a
   notice already recorded is never owed again;
6. deliver every recorded notice not yet delivered, and record how each delivery went.
A closed incident still gets 5 and 6 for the deadlines it leaves owed (fault report,
reporting days, re-entry) until they are met.
Running it twice at the same moment changes nothing and sends nothing the second time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orchestrator.incidents import aftermath_tick, messages, rules
from orchestrator.incidents.deadlines import open_deadlines
from orchestrator.incidents.records import Incident, parse_time
from orchestrator.incidents.store import IncidentStore
from orchestrator.inventory.field_types import AlertLevel
from orchestrator.inventory.models import Inventory
from orchestrator.journal import Journal
from orchestrator.notify import Message, deliver
from orchestrator.notify.delivery import Sleep


@dataclass
class TickReport:
    escalations: list[dict[str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # keys recorded as owed this tick
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "escalations": self.escalations,
            "notices": self.notices,
            "deliveries": self.deliveries,
        }


def tick(
    journal: Journal,
    inventory: Inventory,
    now: datetime,
    *,
    incident_id: str | None = None,
    sleep: Sleep = time.sleep,
) -> TickReport:
    store = IncidentStore(journal)
    report = TickReport()
    try:
        for incident in _incidents(store, inventory, incident_id, now):
            if incident.is_open:
                _follow_runs(store, incident, now, report)
                _escalate_by_time(store, incident.id, inventory, now, report)
                _regrade(store, incident.id, now)
                aftermath_tick.start_immediate_report(store, store.get(incident.id))
                aftermath_tick.record_outage_days(store, store.get(incident.id), inventory, now)
                _record_owed(store, store.get(incident.id), inventory, now, report)
            else:
                _record_deadlines(store, incident, inventory, now, report)
            _deliver_owed(store, incident.id, inventory, journal, sleep, report)
    finally:
        store.dispose()
    return report


def notify_closed(store: IncidentStore, incident: Incident, inventory: Inventory) -> None:
    """Record the closing notice (delivered by the next tick, or the caller's)."""
    _claim(store, incident, messages.closed_message(incident, inventory), incident.closed_at)


def _incidents(
    store: IncidentStore, inventory: Inventory, incident_id: str | None, now: datetime
) -> list[Incident]:
    if incident_id is not None:
        return [store.get(incident_id)]
    # Closed ones too while their last notices wait for delivery, or while they leave
    # deadlines owed (a fault report, a reporting day, a branch's re-entry).
    undelivered = set(store.with_undelivered_notices())
    found = {i.id: i for i in store.incidents(status="open", limit=10_000)}
    found.update((i, store.get(i)) for i in undelivered - found.keys())
    for closed in store.incidents(status="closed", limit=10_000):
        mine = closed.inventory_name == inventory.name and closed.id not in found
        if mine and open_deadlines(closed, inventory, now):
            found[closed.id] = closed
    return [i for i in found.values() if i.inventory_name == inventory.name]


def _follow_runs(
    store: IncidentStore, incident: Incident, now: datetime, report: TickReport
) -> None:
    """Raise the level to what the incident's runs declared since an operator last set it."""
    run_ids = {run.id for run in store.runs(incident.id)}
    if not run_ids:
        return
    last_manual = 0
    declared: list[tuple[int, AlertLevel, str, datetime, str | None]] = []
    for event in store.timeline(incident.id):
        named = rules.alert_level(event.data.get("level"))
        if event.kind == "incident.level_changed" and event.data.get("cause") == "manual":
            last_manual = event.seq
        elif event.kind == "alert_level" and named is not None:
            reason = event.data.get("reason") or {}
            text = reason.get("en", "") if isinstance(reason, dict) else str(reason)
            declared.append((event.seq, named, text, parse_time(event.at), event.run_id))
    for seq, level, text, at, run_id in declared:
        if seq <= last_manual:
            continue
        current = store.get(incident.id)
        moment = min(max(at, current.level_since), now)
        if store.set_level(
            incident.id, level, cause="run", actor=None, reason=text, at=moment, run_id=run_id
        ):
            report.escalations.append({"incident": incident.id, "to": level, "cause": "run"})


def _escalate_by_time(
    store: IncidentStore,
    incident_id: str,
    inventory: Inventory,
    now: datetime,
    report: TickReport,
) -> None:
    for _ in rules.LEVELS:  # at most one step per level: bounded
        incident = store.get(incident_id)
        after = rules.escalation_applies(incident.category, incident.level, incident.scope)
        target = rules.next_level(incident.level)
        if after is None or target is None:
            return
        due = incident.level_since + timedelta(seconds=after)
        if now < due:
            return
        reason = f"{incident.level} not resolved within {after // 3600} h"
        store.set_level(incident_id, target, cause="time", actor=None, reason=reason, at=due)
        report.escalations.append({"incident": incident_id, "to": target, "cause": "time"})
        # Owed now, so a tick that catches up two levels still tells the middle roster.
        raised = store.get(incident_id)
        _claim(store, raised, messages.level_message(raised, inventory, "time", due), due)


def _regrade(store: IncidentStore, incident_id: str, now: datetime) -> None:
    incident = store.get(incident_id)
    outage = incident.outage_seconds(now)
    grade = rules.assess_grade(incident.scope, outage)
    if grade is not None and rules.grade_rank(grade) > rules.grade_rank(incident.grade):
        store.raise_grade(incident_id, grade, outage_seconds=outage, at=now)


def _record_owed(
    store: IncidentStore,
    incident: Incident,
    inventory: Inventory,
    now: datetime,
    report: TickReport,
) -> None:
    cause = _last_level_cause(store, incident)
    owed = [(messages.level_message(incident, inventory, cause, now), incident.level_since)]
    if incident.grade is not None:
        owed.append((messages.grade_message(incident, inventory), now))
    if incident.level in rules.LEADERSHIP_APPROVAL_LEVELS:
        for run in store.runs(incident.id):
            for step in store.journal.steps(run.id):
                if step.kind == "approval" and step.status == "waiting":
                    message = messages.approval_message(
                        incident, inventory, run.id, run.runbook, step.step_id
                    )
                    owed.append((message, now))
    owed += aftermath_tick.fallback_owed(incident, inventory, now)
    owed += _deadline_notices(incident, inventory, now)
    for message, due in owed:
        if _claim(store, incident, message, due):
            report.notices.append(message.key)


def _record_deadlines(
    store: IncidentStore,
    incident: Incident,
    inventory: Inventory,
    now: datetime,
    report: TickReport,
) -> None:
    """A closed incident's reminders and overdue notices for what it still owes."""
    for message, due in _deadline_notices(incident, inventory, now):
        if _claim(store, incident, message, due):
            report.notices.append(message.key)


def _deadline_notices(
    incident: Incident, inventory: Inventory, now: datetime
) -> list[tuple[Message, datetime]]:
    owed = []
    remind = timedelta(seconds=rules.REMIND_BEFORE)
    for deadline in open_deadlines(incident, inventory, now):
        if now >= deadline.due:
            owed.append((messages.deadline_message(incident, inventory, deadline, "overdue"), now))
        elif now >= deadline.due - remind:
            owed.append((messages.deadline_message(incident, inventory, deadline, "remind"), now))
    return owed


def _claim(
    store: IncidentStore, incident: Incident, message: Message, due: datetime | None
) -> bool:
    kind = str(message.context.get("kind", "notice"))
    return store.ledger.claim_notice(
        incident, message.key, kind, due or incident.level_since, message.to_dict()
    )


def _deliver_owed(
    store: IncidentStore,
    incident_id: str,
    inventory: Inventory,
    journal: Journal,
    sleep: Sleep,
    report: TickReport,
) -> None:
    for notice in store.ledger.take_pending_notices(incident_id):
        results = deliver(Message.from_dict(notice.detail), inventory, journal, sleep)
        sent = sum(r.ok for r in results)
        status = "delivered" if sent == len(results) else "partial" if sent else "failed"
        errors = [f"{r.channel} {r.recipient}: {r.error}" for r in results if not r.ok]
        store.ledger.finish_notice(notice, status, {"sent": sent, "errors": errors})
        report.deliveries.append(
            {"key": notice.key, "status": status, "sent": sent, "errors": errors}
        )


def _last_level_cause(store: IncidentStore, incident: Incident) -> str:
    cause = "opened"
    for event in store.timeline(incident.id):
        if event.kind == "incident.level_changed" and event.data.get("to") == incident.level:
            cause = str(event.data.get("cause", "manual"))
    return cause
