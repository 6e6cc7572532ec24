"""The deadlines an incident leaves owed until someone records them met, open or closed:

- `immediate-report`: a major loss (002 art. 27(6): 重大经济损失...立即上报), or a run
  attached to the incident failed (art. 30: the plan failed during handling, 应急预案、
  决策方案失效...立即上报); due at once from that moment.
- `fault-report`: the written fault report to the leadership within 2 days of the fault
  being cleared (002, hospital plan §6.6), for every incident.
- `credit-submission-YYYY-MM-DD`: each affected reporting day's business reaches the
  credit centre by the end of the next working day (001 art. 13), on the working-day
  calendar (orchestrator.calendar); a year the calendar lacks is flagged in the note.
- `reentry-important` / `reentry-all`: after an outage that sent branches to manual
  records (fallback.py), or writes a recovery lost, each affected branch re-enters its
  important data by the end of the day service came back, all of it by the end of the
  next day (hospital plan §6.4); owed per branch until each confirms.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from orchestrator.calendar import calendar_for, end_of_day
from orchestrator.incidents import rules
from orchestrator.incidents.deadlines import Deadline
from orchestrator.incidents.fallback import affected_branches, contacts_at, manual_records_kept
from orchestrator.incidents.records import Incident, parse_time
from orchestrator.inventory.models import Inventory

LOST_TRANSACTIONS = "lost-transactions"


def aftermath_deadlines(incident: Incident, inventory: Inventory, now: datetime) -> list[Deadline]:
    if incident.aftermath.legacy and not incident.is_open:
        return []
    return [
        *_immediate(incident),
        *_fault_report(incident),
        *_submissions(incident, inventory),
        *_reentry(incident, inventory),
    ]


def _immediate(incident: Incident) -> list[Deadline]:
    started = incident.aftermath.immediate_from
    if started is None:
        return []
    cause = incident.aftermath.immediate_cause or ""
    return [
        Deadline(
            "immediate-report",
            parse_time(started),
            (),
            (f"立即报告监管部门与领导小组({cause})", f"immediate report ({cause})"),
            "--done immediate-report",
        )
    ]


def _fault_report(incident: Incident) -> list[Deadline]:
    cleared = incident.restored_at
    if cleared is None:
        return []  # the 2 days run from when the fault is cleared
    return [
        Deadline(
            "fault-report",
            cleared + timedelta(seconds=rules.FAULT_REPORT_WITHIN),
            (),
            (
                "故障排除后2天内向领导提交书面故障报告(原因与预防措施)",
                "written fault report to the leadership within 2 days (cause, prevention)",
            ),
            "--done fault-report",
        )
    ]


def _submissions(incident: Incident, inventory: Inventory) -> list[Deadline]:
    days = sorted(incident.aftermath.reporting_days)
    if not days:
        return []
    calendar = calendar_for(inventory)
    found = []
    for text in days:
        deadline = calendar.submission_deadline(date.fromisoformat(text), inventory.timezone)
        note = None
        if deadline.gaps:
            zh = ";".join(g.text()[0] for g in deadline.gaps)
            en = "; ".join(g.text()[1] for g in deadline.gaps)
            note = (zh, en)
        found.append(
            Deadline(
                f"credit-submission-{text}",
                deadline.due,
                (),
                (
                    f"{text} 的信贷业务于下一工作日结束前报送征信系统",
                    f"credit business of {text} submitted by the end of the next working day",
                ),
                f"--done credit-submission-{text}",
                note=note,
            )
        )
    return found


def reentry_from(incident: Incident) -> datetime | None:
    """When the branches' re-entry starts: service restored after they kept manual
    records, or (lost writes listed) restoration, or when the lost writes were listed."""
    lost = [
        parse_time(sources[LOST_TRANSACTIONS])
        for sources in incident.aftermath.reporting_days.values()
        if LOST_TRANSACTIONS in sources
    ]
    if manual_records_kept(incident):
        return incident.restored_at
    if lost:
        return incident.restored_at or min(lost)
    return None


def reentry_status(incident: Incident, inventory: Inventory) -> dict[str, dict[str, str | None]]:
    """Per affected branch: when it confirmed its important data and all of it (None:
    outstanding); empty when no re-entry is owed."""
    if reentry_from(incident) is None:
        return {}
    done = incident.aftermath.reentered
    return {
        branch: {part: done.get(branch, {}).get(part) for part in ("important", "all")}
        for branch in affected_branches(incident, inventory)
    }


def _reentry(incident: Incident, inventory: Inventory) -> list[Deadline]:
    start = reentry_from(incident)
    if start is None:
        return []
    day = start.astimezone(ZoneInfo(inventory.timezone)).date()
    status = reentry_status(incident, inventory)
    roster = tuple(inventory.escalation.get(incident.level, []))
    found = []
    for key, part, due_day, what in (
        (
            "reentry-important",
            "important",
            day,
            ("网点当日完成重要数据补录", "branches re-enter the important data the same day"),
        ),
        (
            "reentry-all",
            "all",
            day + timedelta(days=1),
            ("网点次日完成全部数据补录", "branches re-enter all data by the next day"),
        ),
    ):
        owed = tuple(branch for branch, parts in status.items() if parts[part] is None)
        if status and not owed:
            continue  # every branch confirmed
        found.append(
            Deadline(
                key,
                end_of_day(due_day, inventory.timezone),
                owed,
                what,
                "--reentered BRANCH" if status else f"--done {key}",
                notify=tuple(dict.fromkeys(contacts_at(inventory, owed) + roster)),
            )
        )
    return found
