"""The seed's rules as data: alert-level order, time-based escalation, on-site deadlines,
incident grades and the regulator's reporting deadlines.

Sources (seeds/, digested in DOMAIN.md): 001 §4.1 (network), §4.2 (equipment), §4.3
(system) for escalation and on-site times; 002 ch. 3 and 6 (CBRC 2008 rules) for grades
and reporting deadlines. Only the decisions live here; the store and the tick act on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orchestrator.inventory.field_types import AlertCategory, AlertLevel

Grade = Literal["I", "II", "III"]
Impact = Literal["major-loss", "serious-damage", "considerable-damage"]

LEVELS: tuple[AlertLevel, ...] = ("blue", "yellow", "orange", "red")
CATEGORIES: tuple[AlertCategory, ...] = ("network", "equipment", "system")
GRADES: tuple[Grade, ...] = ("III", "II", "I")  # ascending severity
IMPACTS: tuple[Impact, ...] = ("major-loss", "serious-damage", "considerable-damage")
LEVEL_NAMES = {
    "blue": ("蓝色预警(四级)", "blue (level 4)"),
    "yellow": ("黄色预警(三级)", "yellow (level 3)"),
    "orange": ("橙色预警(二级)", "orange (level 2)"),
    "red": ("红色预警(一级)", "red (level 1)"),
}
# At these levels a runbook's approval must come from the level's roster (001 §4.1.3).
LEADERSHIP_APPROVAL_LEVELS: tuple[AlertLevel, ...] = ("orange", "red")

HOUR = 3600
MINUTE = 60

# (category, level) -> seconds the incident may stay unresolved at that level before it
# is raised one level. Equipment has no time rule in the seed, and nothing reaches red by
# time alone: red needs a person's (or a runbook's) judgement of scope.
ESCALATE_AFTER: dict[tuple[AlertCategory, AlertLevel], int] = {
    ("network", "blue"): 4 * HOUR,  # 001 §4.1.1, when > 50 % of branches are affected
    ("network", "yellow"): 24 * HOUR,  # 001 §4.1.2
    ("system", "blue"): 48 * HOUR,  # 001 §4.3.1
    ("system", "yellow"): 2 * HOUR,  # 001 §4.3.2
}

# (category, level) -> seconds for (staff, the emergency office, the leadership group) to
# be on site once the level is reached; None: the seed sets them no on-site deadline.
ON_SITE_WITHIN: dict[
    tuple[AlertCategory, AlertLevel], tuple[int | None, int | None, int | None]
] = {
    # 001 §4.1.3: maintenance staff within half an hour, the leadership group within 1 h;
    # the office reports and coordinates, no arrival time.
    ("network", "orange"): (30 * MINUTE, None, HOUR),
    # 001 §4.1.4: "应急办公室和应急领导小组在半小时内到达现场".
    ("network", "red"): (30 * MINUTE, 30 * MINUTE, 30 * MINUTE),
    # 001 §4.2.2: staff and their supervisor within half an hour; the office is told.
    ("equipment", "yellow"): (30 * MINUTE, None, None),
    # 001 §4.2.3: staff within half an hour, "办公室成员1小时内到达现场", the leadership
    # group only "if needed" (必要时), so without a deadline.
    ("equipment", "orange"): (30 * MINUTE, HOUR, None),
    # 001 §4.2.4: every team, the office and the leadership group within half an hour.
    ("equipment", "red"): (30 * MINUTE, 30 * MINUTE, 30 * MINUTE),
    # 001 §4.3.2: the maintenance supervisor "在1小时内到达现场".
    ("system", "yellow"): (HOUR, None, None),
    # 001 §4.3.3: staff within half an hour, "应急办公室和领导小组人员在半小时内到达现场".
    ("system", "orange"): (30 * MINUTE, 30 * MINUTE, 30 * MINUTE),
    # 001 §4.3.4 says only "尽快" (as fast as possible): we hold red to orange's half hour.
    ("system", "red"): (30 * MINUTE, 30 * MINUTE, 30 * MINUTE),
}
LEADERSHIP_ROLE = "leadership"
EMERGENCY_OFFICE_ROLE = "emergency-office"

# CBRC 2008 (002 ch. 6): from the moment of the incident, for graded incidents (I-III):
# the rules are about 信息科技突发事件 of those grades, not every branch-line fault.
REGULATOR_INITIAL_WITHIN = 60 * MINUTE
WRITTEN_REPORT_WITHIN = 12 * HOUR
GRADE_I_PROGRESS_EVERY = 2 * HOUR
# 002, hospital plan §6.6 ("故障排除后2天内...完成故障排除报告院领导"): the written fault
# report to the leadership, counted from when the fault was cleared.
FAULT_REPORT_WITHIN = 48 * HOUR
# A reminder goes out this long before a deadline (or at once, if less is left).
REMIND_BEFORE = 15 * MINUTE


def level_rank(level: str) -> int:
    return LEVELS.index(level)


def alert_level(value: object) -> AlertLevel | None:
    """The alert level `value` names (text from an operator or the journal), or None."""
    return next((level for level in LEVELS if level == value), None)


def next_level(level: AlertLevel) -> AlertLevel | None:
    rank = level_rank(level)
    return LEVELS[rank + 1] if rank + 1 < len(LEVELS) else None


def grade_rank(grade: str | None) -> int:
    return -1 if grade is None else GRADES.index(grade)


@dataclass(frozen=True)
class Scope:
    """What the incident affects, as far as the operator has said (all optional)."""

    provinces: int = 0  # provinces whose business stopped (0: not province-wide)
    branches_down: int | None = None
    branches_total: int | None = None
    impact: Impact | None = None


def assess_grade(scope: Scope, outage_seconds: float) -> Grade | None:
    """Grade I/II/III (002 ch. 3) from scope and how long business has been stopped.

    The highest matching grade applies; None when no grade's threshold is reached.
    """
    hours = outage_seconds / HOUR
    provinces = scope.provinces
    if (
        scope.impact == "major-loss"
        or (provinces >= 2 and hours >= 3)
        or (provinces >= 1 and hours >= 6)
    ):
        return "I"
    if (
        scope.impact == "serious-damage"
        or (provinces >= 2 and hours >= 0.5)
        or (provinces >= 1 and hours >= 3)
    ):
        return "II"
    if scope.impact == "considerable-damage" or (provinces >= 1 and hours >= 0.5):
        return "III"
    return None


def escalation_applies(category: AlertCategory, level: AlertLevel, scope: Scope) -> int | None:
    """Seconds after which `level` escalates for this incident, or None (no time rule).

    The network blue rule holds only when more than half the branches are down; when the
    scope does not say, we assume it holds, because a missed escalation is the worse error.
    """
    after = ESCALATE_AFTER.get((category, level))
    if after is None:
        return None
    if (category, level) == ("network", "blue"):
        down, total = scope.branches_down, scope.branches_total
        if down is not None and total and down * 2 <= total:
            return None
    return after


def on_site_within(category: AlertCategory, level: AlertLevel, role: str) -> int | None:
    """Seconds a contact of `role` has to be on site once `level` is reached, or None.

    The leadership and the emergency office have their own deadlines; every other role
    (duty operators, technical teams, vendors) is the seed's maintenance staff."""
    staff, office, leadership = ON_SITE_WITHIN.get((category, level), (None, None, None))
    if role == LEADERSHIP_ROLE:
        return leadership
    return office if role == EMERGENCY_OFFICE_ROLE else staff
