"""Handling an incident: opening it, changing it, closing it, each as one use case.

Each checks everything it was given before writing anything (checks.py), journals the
change through the store, then sends at once what the change made owed (the new level's
roster, the closing notice, ...) by the same `tick` the scheduler runs, narrowed to this
incident. `dr incident` only parses and renders; the scheduler or a web console call the
same functions and get the same rules and the same notices.

The notices go through the incident's inventory (contacts, rosters, channels): the one
the caller passes, or else the file the incident was opened with. When neither is here,
the change is still recorded and nothing is sent; a tick where the inventory is sends it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from orchestrator.errors import IncidentClosed, UserInputError
from orchestrator.incidents import aftermath_tick, rules
from orchestrator.incidents.checks import (
    ScopeChange,
    changed_scope,
    known_branches,
    known_contacts,
    one_of,
    operator_deadlines,
)
from orchestrator.incidents.deadlines import owed_after_close
from orchestrator.incidents.records import Incident
from orchestrator.incidents.store import IncidentStore
from orchestrator.incidents.tick import TickReport, notify_closed, tick
from orchestrator.inventory import load_inventory
from orchestrator.inventory.field_types import AlertLevel
from orchestrator.inventory.models import Inventory
from orchestrator.journal import Journal
from orchestrator.notify.delivery import Sleep


@dataclass(frozen=True)
class IncidentUpdate:
    """A change to an open incident; a field left at its default changes nothing."""

    summary: str | None = None
    level: str | None = None  # set by a person, so it may also lower the level
    reason: str = ""  # why the level changed
    scope: ScopeChange = field(default_factory=ScopeChange)
    on_site: tuple[str, ...] = ()  # contacts who have arrived
    deadlines_met: tuple[str, ...] = ()  # keys of deadlines.OPERATOR_DEADLINES
    progress: str | None = None  # a progress report (grade I owes one every 2 h)
    business_restored: bool = False  # the outage ends now
    note: str | None = None
    reporting_days: tuple[date, ...] = ()  # local dates whose submission is at risk
    branches: tuple[str, ...] = ()  # branch sites affected (none named: all of them)
    reentered: tuple[str, ...] = ()  # branches confirming their re-entry (补录)
    important_only: bool = False  # ... of the important data only

    def after_close_only(self) -> bool:
        """Whether it changes only what stays owed after an incident, so that it may be
        made to a closed one (the fault report, a reporting day, a branch's re-entry)."""
        during = (
            self.summary is not None
            or self.level is not None
            or self.scope != ScopeChange()
            or self.on_site
            or self.progress is not None
            or self.business_restored
            or self.note is not None
        )
        after = self.deadlines_met or self.reporting_days or self.branches or self.reentered
        return bool(after) and not during and all(owed_after_close(k) for k in self.deadlines_met)


@dataclass(frozen=True)
class Handled:
    """The incident as the change left it, and what was sent because of the change."""

    incident: Incident
    inventory: Inventory | None  # None: not on this machine, so nothing was sent from here
    notices: TickReport


def open_incident(
    journal: Journal,
    inventory: Inventory,
    *,
    category: str,
    level: str,
    summary: str,
    actor: str,
    scope: ScopeChange | None = None,
    started_at: datetime | None = None,
    business_stopped: bool = True,
    now: datetime | None = None,
    sleep: Sleep = time.sleep,
) -> Handled:
    """Declare an incident; the roster of its level is notified at once."""
    checked_category = one_of("--category", category, rules.CATEGORIES)
    checked_level = one_of("--level", level, rules.LEVELS)
    checked_scope = changed_scope(rules.Scope(), scope or ScopeChange())
    source = inventory.source_path
    store = IncidentStore(journal)
    try:
        incident = store.open(
            inventory_name=inventory.name,
            inventory_path=str(source.absolute()) if source is not None else None,
            category=checked_category,
            level=checked_level,
            summary=summary,
            actor=actor,
            scope=checked_scope,
            started_at=started_at,
            business_stopped=business_stopped,
            at=now,
        )
    finally:
        store.dispose()
    return _notify_now(journal, incident.id, inventory, now, sleep)


def update_incident(
    journal: Journal,
    incident_id: str,
    change: IncidentUpdate,
    *,
    actor: str,
    inventory: Inventory | None = None,
    now: datetime | None = None,
    sleep: Sleep = time.sleep,
) -> Handled:
    """Change an open incident: summary, level, scope, who is on site, deadlines met,
    progress, the end of the outage; then send what the change made owed."""
    level = None if change.level is None else one_of("--level", change.level, rules.LEVELS)
    deadlines = operator_deadlines(change.deadlines_met)
    moment = now or datetime.now(UTC)
    store = IncidentStore(journal)
    try:
        incident = require_changeable(store.get(incident_id), change)
        inventory = _inventory_for(incident, inventory)
        if inventory is not None:
            known_contacts(inventory, change.on_site)
            known_branches(inventory, "--branch", change.branches)
            known_branches(inventory, "--reentered", change.reentered)
        if incident.is_open:
            _change_open(store, incident, change, level, actor, moment)
        for key in deadlines:
            store.mark_deadline_met(incident_id, key, actor=actor, at=moment)
        _change_aftermath(store, incident_id, change, actor, moment)
    finally:
        store.dispose()
    return _notify_now(journal, incident_id, inventory, moment, sleep)


def _change_open(
    store: IncidentStore,
    incident: Incident,
    change: IncidentUpdate,
    level: AlertLevel | None,
    actor: str,
    moment: datetime,
) -> None:
    scope = changed_scope(incident.scope, change.scope)
    store.update(
        incident.id,
        actor=actor,
        summary=change.summary,
        scope=scope,
        business_restored=change.business_restored,
        note=change.note,
        at=moment,
    )
    if level is not None:
        store.set_level(
            incident.id,
            level,
            cause="manual",
            actor=actor,
            reason=change.reason or "set by an operator",
            at=moment,
            raise_only=False,
        )
    for name in change.on_site:
        store.mark_on_site(incident.id, name, actor=actor, at=moment)
    if change.progress:
        store.record_progress(incident.id, change.progress, actor=actor, at=moment)


def _change_aftermath(
    store: IncidentStore, incident_id: str, change: IncidentUpdate, actor: str, moment: datetime
) -> None:
    if change.branches:
        store.add_branches(incident_id, change.branches, actor=actor, at=moment)
    if change.reporting_days:
        store.add_reporting_days(
            incident_id, change.reporting_days, "operator", actor=actor, at=moment
        )
    for branch in change.reentered:
        store.confirm_reentry(
            incident_id, branch, important_only=change.important_only, actor=actor, at=moment
        )


def close_incident(
    journal: Journal,
    incident_id: str,
    *,
    actor: str,
    resolution: str,
    inventory: Inventory | None = None,
    now: datetime | None = None,
    sleep: Sleep = time.sleep,
) -> Handled:
    """Declare the incident over; its roster is told at once."""
    store = IncidentStore(journal)
    try:
        inventory = _inventory_for(store.get(incident_id), inventory)
        # What the last tick may not have seen yet: a run that just failed.
        aftermath_tick.start_immediate_report(store, store.require_open(incident_id))
        closed = store.close(incident_id, actor=actor, resolution=resolution, at=now)
        if inventory is not None:
            # The outage's last day is a reporting day too; no tick adds it once closed.
            aftermath_tick.record_outage_days(
                store, closed, inventory, closed.closed_at or datetime.now(UTC)
            )
            notify_closed(store, closed, inventory)
    finally:
        store.dispose()
    return _notify_now(journal, incident_id, inventory, now, sleep)


def require_changeable(incident: Incident, change: IncidentUpdate) -> Incident:
    """The incident, if `change` may be made to it: a closed one takes only changes to
    what it still owes."""
    if incident.is_open or change.after_close_only():
        return incident
    raise IncidentClosed(
        f"incident {incident.id} was closed at {incident.closed_at}; a closed incident "
        "takes only what it still owes (--done fault-report | immediate-report | "
        "credit-submission-DATE | reentry-..., --reporting-day, --branch, --reentered); "
        "for a new fault open a new one with `dr incident open`. / 该事件已关闭。"
    )


def incident_inventory(incident: Incident) -> Inventory | None:
    """The inventory the incident was opened with, if that file is on this machine."""
    if incident.inventory_path is None or not Path(incident.inventory_path).exists():
        return None
    return load_inventory(Path(incident.inventory_path))


def _inventory_for(incident: Incident, given: Inventory | None) -> Inventory | None:
    if given is None:
        return incident_inventory(incident)
    if given.name != incident.inventory_name:
        # Another inventory's rosters and channels would tell the wrong people.
        raise UserInputError(
            f"incident {incident.id} belongs to inventory {incident.inventory_name!r}, not "
            f"{given.name!r}; change it with its own inventory."
        )
    return given


def _notify_now(
    journal: Journal,
    incident_id: str,
    inventory: Inventory | None,
    now: datetime | None,
    sleep: Sleep,
) -> Handled:
    report = TickReport()
    if inventory is not None:
        moment = now or datetime.now(UTC)
        report = tick(journal, inventory, moment, incident_id=incident_id, sleep=sleep)
    store = IncidentStore(journal)
    try:
        return Handled(store.get(incident_id), inventory, report)
    finally:
        store.dispose()
