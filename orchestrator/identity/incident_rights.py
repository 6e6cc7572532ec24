"""Who may lower an incident's alert level: the leadership group, not the duty operator.

Lowering the level takes away the leadership's approval of the plan at orange and red
(and tells fewer people); an operator who could lower it could approve their own run.
Raising it stays open to anyone: escalating early is never the dangerous direction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import UserInputError
from orchestrator.identity.person import Person, person_at_terminal
from orchestrator.incidents import rules

if TYPE_CHECKING:
    from orchestrator.incidents.records import Incident
    from orchestrator.inventory import Inventory

LEADERSHIP_ROLE = "leadership"


def lowering(incident: Incident, new_level: str | None) -> bool:
    return new_level in rules.LEVELS and rules.level_rank(new_level) < rules.level_rank(
        incident.level
    )


def person_who_may_lower(incident: Incident, inventory: Inventory | None, new_level: str) -> Person:
    """The terminal's person, if on the leadership roster of the incident's current level
    (its escalation roster, holding the leadership role); else UserInputError."""
    if inventory is None:
        raise UserInputError(
            f"lowering incident {incident.id} from {incident.level} to {new_level} needs its "
            f"inventory ({incident.inventory_path or incident.inventory_name}) on this machine, "
            "to know who the leadership is. / 降低预警级别须在有该清单的机器上进行。"
        )
    person = person_at_terminal(inventory)
    roster = inventory.escalation.get(incident.level, [])
    leaders = [
        c.name
        for c in inventory.contacts
        if c.role == LEADERSHIP_ROLE and (c.name in roster or not roster)
    ]
    if person.contact not in leaders:
        raise UserInputError(
            f"{person.contact} may not lower incident {incident.id} from {incident.level} to "
            f"{new_level}: only the leadership group on the {incident.level} roster may "
            f"({', '.join(leaders) or 'nobody: add leadership contacts'}); raising it is "
            "open to anyone. / 只有该级应急领导小组成员可以降低预警级别。"
        )
    return person
