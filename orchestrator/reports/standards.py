"""GB/T 20988 capability levels as versioned data (informative table of RTO/RPO ranges).

The ranges overlap, so a figure can only be said to *fall within* some levels' ranges;
it never places a system in a level by itself. "Minutes" is read as up to 1 h and
"hours" as from 1 h: our reading of the table's words, stated in every report that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

_MIN, _HOUR, _DAY = 60, 3600, 86400
_INF = float("inf")


@dataclass(frozen=True)
class CapabilityLevel:
    level: int
    rto: tuple[float, float]  # seconds, inclusive
    rpo: tuple[float, float]


@dataclass(frozen=True)
class StandardEdition:
    name: str
    in_force_from: date
    in_force_until: date | None
    levels: tuple[CapabilityLevel, ...]


GB_T_20988_2007 = StandardEdition(
    name="GB/T 20988-2007",
    in_force_from=date(2007, 11, 1),
    # GB/T 20988-2025 replaces it from this day; its table is not in our data yet.
    in_force_until=date(2026, 1, 1),
    levels=(
        CapabilityLevel(1, (2 * _DAY, _INF), (1 * _DAY, 7 * _DAY)),
        CapabilityLevel(2, (24 * _HOUR, _INF), (1 * _DAY, 7 * _DAY)),
        CapabilityLevel(3, (12 * _HOUR, _INF), (1 * _HOUR, 1 * _DAY)),
        CapabilityLevel(4, (1 * _HOUR, 2 * _DAY), (1 * _HOUR, 1 * _DAY)),
        CapabilityLevel(5, (1 * _MIN, 2 * _DAY), (0, 30 * _MIN)),
        CapabilityLevel(6, (0, 1 * _HOUR), (0, 0)),
    ),
)

EDITIONS = (GB_T_20988_2007,)


def edition_for(day: date) -> StandardEdition:
    """The edition whose table we hold for `day`; after 2026-01-01 that is still the 2007
    table, and the report says so (see `superseded`)."""
    return EDITIONS[-1]


def superseded(edition: StandardEdition, day: date) -> bool:
    return edition.in_force_until is not None and day >= edition.in_force_until


def levels_within(edition: StandardEdition, rto: float | None, rpo: float | None) -> list[int]:
    """Levels whose RTO and RPO ranges both contain the achieved figures."""
    if rto is None:
        return []
    return [
        lv.level
        for lv in edition.levels
        if lv.rto[0] <= rto <= lv.rto[1] and (rpo is None or lv.rpo[0] <= rpo <= lv.rpo[1])
    ]
