"""What a change to an incident must satisfy before anything of it is written.

Whoever changes incidents (`dr incident`, the scheduler, a web console) gets the same
checks from here. Each refusal is a UserInputError naming the field by its option on the
command line, which is how operators know it, and saying what to write instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.errors import UserInputError
from orchestrator.incidents.deadlines import OPERATOR_DEADLINES, markable
from orchestrator.incidents.rules import IMPACTS, Scope
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.names import did_you_mean

Word = TypeVar("Word", bound=str)


def one_of(option: str, value: str, allowed: tuple[Word, ...]) -> Word:
    """`value` as the allowed word it is (typed as such), or a refusal listing them."""
    for word in allowed:
        if word == value:
            return word
    raise UserInputError(f"{option} {value!r}: use one of {', '.join(allowed)}")


@dataclass(frozen=True)
class ScopeChange:
    """What the operator now says the incident affects; None leaves a field as it was."""

    provinces: int | None = None
    branches_down: int | None = None
    branches_total: int | None = None
    impact: str | None = None


def changed_scope(base: Scope, change: ScopeChange) -> Scope:
    """`base` with the change applied, refused if the counts contradict themselves."""
    for option, number in (
        ("--provinces", change.provinces),
        ("--branches-down", change.branches_down),
        ("--branches-total", change.branches_total),
    ):
        if number is not None and number < 0:
            raise UserInputError(f"{option} {number}: a count cannot be negative")
    impact = base.impact if change.impact is None else one_of("--impact", change.impact, IMPACTS)
    merged = Scope(
        provinces=base.provinces if change.provinces is None else change.provinces,
        branches_down=base.branches_down if change.branches_down is None else change.branches_down,
        branches_total=(
            base.branches_total if change.branches_total is None else change.branches_total
        ),
        impact=impact,
    )
    down, total = merged.branches_down, merged.branches_total
    if down is not None and total is not None and down > total:
        raise UserInputError(
            f"--branches-down {down} is more than --branches-total {total}; check both"
        )
    return merged


def known_contacts(inventory: Inventory, names: Sequence[str]) -> tuple[str, ...]:
    """Only the inventory's contacts can be on site."""
    known = [c.name for c in inventory.contacts]
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known, "contacts")
            raise UserInputError(f"--on-site {name!r}: not a contact in {inventory.name}; {hint}")
    return tuple(names)


def operator_deadlines(keys: Sequence[str]) -> tuple[str, ...]:
    """Only the deadlines an operator meets by hand (the reports, a reporting day's
    submission, re-entry as a whole) can be marked met; the others are met by what they
    ask for (an arrival, a progress report)."""
    for key in keys:
        if not markable(key):
            raise UserInputError(
                f"--done {key!r}: use one of {', '.join(OPERATOR_DEADLINES)}, "
                "credit-submission-YYYY-MM-DD, reentry-important or reentry-all "
                "(`dr incident show ID` lists the incident's deadlines)"
            )
    return tuple(keys)


def known_branches(inventory: Inventory, option: str, names: Sequence[str]) -> tuple[str, ...]:
    """Only the inventory's branch sites can be affected or confirm their re-entry."""
    known = [s.name for s in inventory.sites if s.kind == "branch"]
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known, "branch sites")
            raise UserInputError(
                f"{option} {name!r}: not a branch site in {inventory.name}; {hint}"
            )
    return tuple(names)
