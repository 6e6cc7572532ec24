"""Run admission: may this run start? One answer for every caller.

The command line, the scheduler, a web console and the tests all get the same rules by
asking here (and `Engine.start` asks before it records anything), so no caller carries a
copy that could drift. The rules, in order:
1. the mode rules (`modes.py`): drill only on a drill inventory, live only on production
   and with a reason or an incident, --auto-confirm only in a drill;
2. a run that joins an incident joins an open one: its alert levels raise that incident
   and its approvals follow the incident's roster, which means nothing once it is closed.
3. a live run needs the journal key: what it records must not be rewritable unseen by
   whoever can write the database (drills may run unkeyed, and their journal says so).
Every refusal is a UserInputError (ModeRefused, IncidentNotFound, IncidentClosed,
JournalKeyMissing) whose message says what to do instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.engine.modes import check_mode
from orchestrator.engine.state import RunOptions
from orchestrator.errors import JournalKeyMissing
from orchestrator.incidents import Incident, IncidentStore
from orchestrator.journal import Journal
from orchestrator.journal.key import MISSING_KEY_HINT

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory


def admit_run(options: RunOptions, inventory: Inventory, journal: Journal) -> Incident | None:
    """Refuse a run that may not start; return the incident it joins, if any."""
    check_mode(
        options.mode,
        environment=inventory.environment,
        inventory_name=inventory.name,
        auto_confirm=options.auto_confirm,
        reason=options.reason,
        incident_id=options.incident_id,
    )
    incident = _joined_incident(options, journal)
    if options.mode == "live" and not journal.keyed:
        # A live run is what auditors read afterwards: its journal must be one that a
        # person with database access cannot rewrite unseen (orchestrator/journal/key.py).
        raise JournalKeyMissing(
            f"a live run needs the journal key, and none was found: {MISSING_KEY_HINT}"
        )
    return incident


def _joined_incident(options: RunOptions, journal: Journal) -> Incident | None:
    if options.incident_id is None:
        return None
    store = IncidentStore(journal)
    try:
        return store.require_open(options.incident_id)
    finally:
        store.dispose()
