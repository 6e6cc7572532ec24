"""Who is acting at this terminal: the OS account mapped to a contact, never a typed name.

`--operator` and DR_OPERATOR are kept only as assertions: they may repeat who the
terminal is (a script that always passed them keeps working) and refuse anyone else.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from orchestrator.identity import (
    IdentityUnknown,
    Person,
    check_claim,
    person_at_terminal,
    unmapped_at_terminal,
)

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory


def acting_person(inventory: Inventory | None, claimed: str | None, *, mapped: bool) -> Person:
    """The terminal's person. `mapped`: they must be a contact of `inventory` (a live run,
    an approval); otherwise an account that maps to no contact acts under its account
    name (a drill on a test inventory), holding no role and approving nothing."""
    if inventory is None:
        person = unmapped_at_terminal()
    else:
        try:
            person = person_at_terminal(inventory)
        except IdentityUnknown:
            if mapped:
                raise
            person = unmapped_at_terminal()
    check_claim(claimed, person, option="--operator")
    check_claim(os.environ.get("DR_OPERATOR"), person, option="DR_OPERATOR")
    return person
