"""A run attached to an incident (`--incident ID`) raises the incident's level when a
runbook declares a higher alert level; it never lowers it. The notifications follow from
the next `dr incident tick`, so a runbook never waits on a mail server."""

from __future__ import annotations

import logging
from datetime import date, datetime

from orchestrator.engine.state import RunState
from orchestrator.errors import DrError
from orchestrator.incidents import IncidentStore
from orchestrator.inventory.field_types import AlertLevel

log = logging.getLogger(__name__)


def raise_incident_level(state: RunState, level: AlertLevel, reason: str) -> None:
    incident_id = state.record.incident_id
    if incident_id is None:
        return
    store = IncidentStore(state.journal)
    try:
        if store.set_level(
            incident_id,
            level,
            cause="run",
            actor=state.record.started_by,
            reason=reason,
            run_id=state.run_id,
        ):
            state.observer.message(f"incident {incident_id} raised to {level}")
    except DrError as err:
        # The run's own alert_level event is journaled; the tick catches up from it.
        log.warning("incident %s not raised to %s: %s", incident_id, level, err.message)
        state.observer.message(f"incident {incident_id}: level not raised ({err.message})")
    finally:
        store.dispose()


def incident_outage_start(state: RunState) -> datetime | None:
    """When the run's incident says business stopped, if the run belongs to one that
    did: declared at detection, it is usually earlier than anything a runbook sees."""
    incident_id = state.record.incident_id
    if incident_id is None:
        return None
    store = IncidentStore(state.journal)
    try:
        return store.get(incident_id).outage_started_at
    except DrError as err:
        log.warning("incident %s not read for the outage start: %s", incident_id, err.message)
        return None
    finally:
        store.dispose()


def add_incident_reporting_days(
    state: RunState, days: list[date], branches: list[str], source: str
) -> None:
    """The incident the run is attached to owes the credit centre these reporting days
    again (and, for lost writes, the branches their re-entry): its clocks start here."""
    incident_id = state.record.incident_id
    if incident_id is None or not days:
        return
    store = IncidentStore(state.journal)
    try:
        store.add_reporting_days(
            incident_id, days, source, actor=state.record.started_by, branches=branches
        )
        shown = ", ".join(d.isoformat() for d in days)
        state.observer.message(f"incident {incident_id}: reporting days {shown} owed again")
    except DrError as err:
        log.warning("incident %s: reporting days not added: %s", incident_id, err.message)
        state.observer.message(f"incident {incident_id}: reporting days not added ({err.message})")
    finally:
        store.dispose()
