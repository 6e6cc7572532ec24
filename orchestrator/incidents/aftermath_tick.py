"""What `dr incident tick` does for the clocks that outlive an incident (clocks.py):

- start the immediate report when the scope says major loss, or a run attached to the
  incident failed (the runs table links a run to its incident: `runs.incident_id`, set by
  `dr run ... --incident ID`; its `run.failed` event dates the failure); dated when it
  happened, not when the tick saw it;
- add the reporting days a credit-system outage spans;
- the manual-fallback notices the outage has made owed (fallback.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from orchestrator.incidents.fallback import tiers_reached
from orchestrator.incidents.fallback_notices import fallback_message
from orchestrator.incidents.records import Incident, parse_time
from orchestrator.incidents.store import IncidentStore
from orchestrator.inventory.models import Inventory
from orchestrator.notify import Message

OUTAGE = "outage"
# A run that failed, or failed and undid its changes: either way the plan did not work.
_FAILED_RUNS = ("run.failed", "run.rolled_back")


def start_immediate_report(store: IncidentStore, incident: Incident) -> None:
    if incident.aftermath.immediate_from is not None:
        return
    causes: list[tuple[datetime, str]] = []
    loss_at = _major_loss_since(store, incident)
    if loss_at is not None:
        causes.append((loss_at, "major-loss / 重大损失"))
    for run in store.runs(incident.id):
        # The journal's run.failed event dates the failure: a failed run may be resumed,
        # so its row has no finish time, and it may succeed later (the plan still failed).
        failures = store.journal.events(run.id, kinds=_FAILED_RUNS)
        if failures:
            causes.append(
                (parse_time(failures[0].at), f"run {run.id} {failures[0].data['status']}")
            )
    if causes:
        at, cause = min(causes)
        store.start_immediate_report(incident.id, cause=cause, at=at)


def _major_loss_since(store: IncidentStore, incident: Incident) -> datetime | None:
    """When the operator said the incident causes a major loss, if they have."""
    if incident.scope.impact != "major-loss":
        return None
    for event in store.timeline(incident.id):
        if event.kind == "incident.opened":
            scope = event.data.get("scope") or {}
            if scope.get("impact") == "major-loss":
                return incident.started_at
        elif event.kind == "incident.updated":
            scope = (event.data.get("changes") or {}).get("scope") or {}
            if scope.get("impact") == "major-loss":
                return parse_time(str(event.data.get("at") or event.at))
    return incident.started_at


def is_credit_outage(store: IncidentStore, incident: Incident) -> bool:
    """Whether the incident's outage stopped the credit system itself, so that each day
    it spans is a reporting day whose submission is at risk.

    A `system` incident is about the business systems (001 §4.3: hosts, the core and
    peripheral systems), which here is the credit-reporting system. A network or
    equipment fault may stop a branch's line or a spare device while the system runs;
    but once a recovery run is attached to it (failover, restore, rebuild), the service
    itself was down. An incident declared with --no-outage has no outage days at all.
    """
    if incident.outage_started_at is None:
        return False
    return incident.category == "system" or bool(store.runs(incident.id))


def record_outage_days(
    store: IncidentStore, incident: Incident, inventory: Inventory, now: datetime
) -> None:
    if not is_credit_outage(store, incident):
        return
    assert incident.outage_started_at is not None
    zone = ZoneInfo(inventory.timezone)
    first = incident.outage_started_at.astimezone(zone).date()
    last = (incident.outage_ended_at or now).astimezone(zone).date()
    days = _days(first, last)
    known = {d for d, sources in incident.aftermath.reporting_days.items() if OUTAGE in sources}
    if {d.isoformat() for d in days} - known:
        store.add_reporting_days(incident.id, days, OUTAGE, at=now)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range(max(0, (last - first).days) + 1)]


def fallback_owed(
    incident: Incident, inventory: Inventory, now: datetime
) -> list[tuple[Message, datetime]]:
    """Each tier's notice, dated when the outage reached it (a late tick catches up)."""
    return [
        (
            fallback_message(incident, inventory, tier),
            (incident.outage_started_at or now) + timedelta(seconds=tier.after),
        )
        for tier in tiers_reached(incident, now)
    ]
