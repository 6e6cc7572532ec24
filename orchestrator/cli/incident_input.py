"""Checking `dr incident` options: every bad value is a UserInputError saying what to write."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from orchestrator.errors import UserInputError
from orchestrator.incidents import rules
from orchestrator.incidents.deadlines import OPERATOR_DEADLINES
from orchestrator.incidents.rules import Scope
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.names import did_you_mean


def choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise UserInputError(f"{option} {value!r}: use one of {', '.join(allowed)}")
    return value


def moment(option: str, value: str | None, timezone: str) -> datetime | None:
    """An ISO time; without a zone it is the inventory's local time."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserInputError(
            f"{option} {value!r} is not a time; write it like 2026-11-27T02:10 "
            f"(local time, {timezone}) or 2026-11-26T18:10Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed.astimezone(UTC)


def scope(
    base: Scope,
    provinces: int | None,
    branches_down: int | None,
    branches_total: int | None,
    impact: str | None,
) -> Scope:
    for option, number in (
        ("--provinces", provinces),
        ("--branches-down", branches_down),
        ("--branches-total", branches_total),
    ):
        if number is not None and number < 0:
            raise UserInputError(f"{option} {number}: a count cannot be negative")
    if impact is not None:
        choice("--impact", impact, ("major-loss", "serious-damage", "considerable-damage"))
    merged = Scope(
        provinces=base.provinces if provinces is None else provinces,
        branches_down=base.branches_down if branches_down is None else branches_down,
        branches_total=base.branches_total if branches_total is None else branches_total,
        impact=base.impact if impact is None else impact,  # type: ignore[arg-type]
    )
    down, total = merged.branches_down, merged.branches_total
    if down is not None and total is not None and down > total:
        raise UserInputError(
            f"--branches-down {down} is more than --branches-total {total}; check both"
        )
    return merged


def contact_names(inventory: Inventory, names: list[str]) -> list[str]:
    known = [c.name for c in inventory.contacts]
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known, "contacts")
            raise UserInputError(f"--on-site {name!r}: not a contact in {inventory.name}; {hint}")
    return names


def deadline_keys(keys: list[str]) -> list[str]:
    for key in keys:
        choice("--done", key, OPERATOR_DEADLINES)
    return keys


LEVELS = rules.LEVELS
CATEGORIES = rules.CATEGORIES
