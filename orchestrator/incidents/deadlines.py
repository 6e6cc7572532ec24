"""Which deadlines an incident has at a given moment, and who still owes them.

While the incident is open (graded incidents only for the regulator's three):
`regulator-initial` (60 min after the incident), `written-report` (12 h), `progress-N`
(grade I: the N-th 2-hourly progress report), `on-site-LEVEL-MINUTES` (the level's
roster with that deadline). Owed until met, also after the incident closed (clocks.py):
`immediate-report`, `fault-report`, `credit-submission-YYYY-MM-DD`, `reentry-important`,
`reentry-all`. `dr incident update --done KEY` marks the operator's ones met.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.incidents import rules
from orchestrator.incidents.records import Incident
from orchestrator.inventory.models import Inventory

# Met by an operator saying so (`--done KEY`); the others are met by what they ask for
# (an arrival, a progress report, a branch's re-entry), or by --done as an override.
OPERATOR_DEADLINES = ("regulator-initial", "written-report", "immediate-report", "fault-report")
CREDIT_SUBMISSION = re.compile(r"credit-submission-(\d{4}-\d{2}-\d{2})")
REENTRY_DEADLINES = ("reentry-important", "reentry-all")
_AFTER_CLOSE = ("immediate-report", "fault-report", *REENTRY_DEADLINES)


@dataclass(frozen=True)
class Deadline:
    key: str
    due: datetime
    owed_by: tuple[str, ...]  # contacts (on site) or branches (re-entry); empty: handlers
    what: tuple[str, str]  # (zh, en)
    mark: str = ""  # the `dr incident update` option that records it met
    notify: tuple[str, ...] = ()  # contacts reminded; empty: owed_by, else the roster
    note: tuple[str, str] | None = None  # a caveat, e.g. the calendar lacks the year


def owed_after_close(key: str) -> bool:
    """Whether the deadline `key` stays owed after its incident closed."""
    return key in _AFTER_CLOSE or CREDIT_SUBMISSION.fullmatch(key) is not None


def markable(key: str) -> bool:
    """Whether an operator may mark `key` met with --done."""
    return key in OPERATOR_DEADLINES or key in REENTRY_DEADLINES or owed_after_close(key)


def open_deadlines(incident: Incident, inventory: Inventory, now: datetime) -> list[Deadline]:
    """Deadlines not yet met (due or not); a closed incident keeps only those owed after."""
    # clocks.py builds its deadlines on this module's Deadline: imported here, not above.
    from orchestrator.incidents.clocks import aftermath_deadlines

    found = []
    if incident.is_open:
        found += [*_reporting(incident, now), *_on_site(incident, inventory)]
    found += aftermath_deadlines(incident, inventory, now)
    return [d for d in found if d.key not in incident.deadlines_met]


def _reporting(incident: Incident, now: datetime) -> list[Deadline]:
    """The regulator's reports, for an incident of grade I-III only (002 ch. 6): a blue
    branch-line fault with no grade owes the regulator nothing."""
    if incident.grade is None:
        return []
    start = incident.started_at
    found = [
        Deadline(
            "regulator-initial",
            start + timedelta(seconds=rules.REGULATOR_INITIAL_WITHIN),
            (),
            ("向监管部门首次报告(60分钟内)", "initial report to the regulator (within 60 min)"),
            "--done regulator-initial",
        ),
        Deadline(
            "written-report",
            start + timedelta(seconds=rules.WRITTEN_REPORT_WITHIN),
            (),
            ("向监管部门提交书面报告(12小时内)", "written report to the regulator (within 12 h)"),
            "--done written-report",
        ),
    ]
    if incident.grade == "I":
        found += _progress(incident, now)
    return found


def _progress(incident: Incident, now: datetime) -> list[Deadline]:
    """The current 2-hour window's progress report, and the previous one if it was missed."""
    every = timedelta(seconds=rules.GRADE_I_PROGRESS_EVERY)
    elapsed = max(timedelta(0), now - incident.started_at)
    current = int(elapsed / every) + 1
    found = []
    for n in (current - 1, current):
        if n < 1:
            continue
        due = incident.started_at + n * every
        reported = incident.last_progress_at is not None and incident.last_progress_at > due - every
        if not reported:
            found.append(
                Deadline(
                    f"progress-{n}",
                    due,
                    (),
                    (
                        f"特别重大事件第{n}次进展报告(每2小时)",
                        f"grade I progress report {n} (every 2 h)",
                    ),
                    "--progress TEXT",
                )
            )
    return found


def _on_site(incident: Incident, inventory: Inventory) -> list[Deadline]:
    by_due: dict[int, list[str]] = {}
    for name in inventory.escalation.get(incident.level, []):
        role = next((c.role for c in inventory.contacts if c.name == name), "")
        within = rules.on_site_within(incident.category, incident.level, role)
        if within is not None and name not in incident.on_site:
            by_due.setdefault(within, []).append(name)
    level_zh, level_en = rules.LEVEL_NAMES[incident.level]
    return [
        Deadline(
            f"on-site-{incident.level}-{within // 60}",
            incident.level_since + timedelta(seconds=within),
            tuple(names),
            (
                f"{level_zh}:{within // 60}分钟内到达现场",
                f"{level_en}: on site within {within // 60} min",
            ),
            "--on-site NAME",
        )
        for within, names in sorted(by_due.items())
    ]
