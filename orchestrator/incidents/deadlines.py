"""Which deadlines an open incident has at a given moment, and who still owes them.

Keys (also what `dr incident update --done KEY` marks met): `regulator-initial` (60 min
after the incident), `written-report` (12 h), `progress-N` (grade I: the N-th 2-hourly
progress report), `on-site-LEVEL-MINUTES` (the level's roster with that deadline).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.incidents import rules
from orchestrator.incidents.records import Incident
from orchestrator.inventory.models import Inventory

OPERATOR_DEADLINES = ("regulator-initial", "written-report")


@dataclass(frozen=True)
class Deadline:
    key: str
    due: datetime
    owed_by: tuple[str, ...]  # contact names; empty: the incident's handlers as a whole
    what: tuple[str, str]  # (zh, en)


def open_deadlines(incident: Incident, inventory: Inventory, now: datetime) -> list[Deadline]:
    """Deadlines not yet met (due or not); a closed incident has none."""
    if not incident.is_open:
        return []
    found = [*_reporting(incident, now), *_on_site(incident, inventory)]
    return [d for d in found if d.key not in incident.deadlines_met]


def _reporting(incident: Incident, now: datetime) -> list[Deadline]:
    start = incident.started_at
    found = [
        Deadline(
            "regulator-initial",
            start + timedelta(seconds=rules.REGULATOR_INITIAL_WITHIN),
            (),
            ("向监管部门首次报告(60分钟内)", "initial report to the regulator (within 60 min)"),
        ),
        Deadline(
            "written-report",
            start + timedelta(seconds=rules.WRITTEN_REPORT_WITHIN),
            (),
            ("向监管部门提交书面报告(12小时内)", "written report to the regulator (within 12 h)"),
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
        )
        for within, names in sorted(by_due.items())
    ]
