"""The text of every notice an incident sends, in Chinese and English."""

from __future__ import annotations

from datetime import datetime

from orchestrator.incidents import rules
from orchestrator.incidents.deadlines import Deadline, open_deadlines
from orchestrator.incidents.records import Incident
from orchestrator.inventory.models import Inventory
from orchestrator.notify import Message
from orchestrator.shown_times import shown_time, zone_of
from orchestrator.text import Text

CATEGORY_NAMES = {
    "network": ("网络", "network"),
    "equipment": ("设备", "equipment"),
    "system": ("系统", "system"),
}


def roster(inventory: Inventory, level: str) -> tuple[str, ...]:
    return tuple(inventory.escalation.get(level, []))  # type: ignore[call-overload]


def level_message(incident: Incident, inventory: Inventory, cause: str, now: datetime) -> Message:
    """The incident reached its current level (or was opened at it)."""
    zh_level, en_level = rules.LEVEL_NAMES[incident.level]
    zh_cat, en_cat = CATEGORY_NAMES[incident.category]
    opened = cause == "opened"
    title = Text(
        zh=f"[dr] {incident.id} {zh_cat}事件{'发生' if opened else '升级'}:{zh_level}",
        en=f"[dr] {incident.id} {en_cat} incident {'opened' if opened else 'raised'}: {en_level}",
    )
    duties = [d for d in open_deadlines(incident, inventory, now) if d.owed_by]
    zh_duties = "".join(
        f"\n- {d.what[0]}:{'、'.join(d.owed_by)},最迟 {local_text(d.due, inventory)}"
        for d in duties
    )
    en_duties = "".join(
        f"\n- {d.what[1]}: {', '.join(d.owed_by)}, by {local_text(d.due, inventory)}"
        for d in duties
    )
    approval = incident.level in rules.LEADERSHIP_APPROVAL_LEVELS
    body = Text(
        zh=f"{incident.summary}\n级别:{zh_level};原因:{_cause(cause, 'zh')};"
        f"开始时间 {local_text(incident.started_at, inventory)}{zh_duties}"
        + ("\n技术方案须经应急领导小组批准后实施。" if approval else ""),
        en=f"{incident.summary}\nLevel: {en_level}; why: {_cause(cause, 'en')}; "
        f"began {local_text(incident.started_at, inventory)}{en_duties}"
        + ("\nThe technical plan needs the leadership group's approval first." if approval else ""),
    )
    return Message(
        key=f"{incident.id}:level:{incident.level}",
        level=incident.level,
        title=title,
        body=body,
        recipients=roster(inventory, incident.level),
        context={"incident_id": incident.id, "kind": "level"},
    )


def deadline_message(
    incident: Incident, inventory: Inventory, deadline: Deadline, stage: str
) -> Message:
    """A reminder before a deadline (`stage` "remind") or a warning once it passed ("overdue")."""
    due = local_text(deadline.due, inventory)
    owed = deadline.notify or deadline.owed_by or roster(inventory, incident.level)
    if stage == "remind":
        zh_head, en_head = "提醒", "reminder"
        zh_tail, en_tail = f"截止 {due}", f"due {due}"
    else:
        zh_head, en_head = "已超时", "OVERDUE"
        zh_tail, en_tail = f"已于 {due} 到期", f"was due {due}"
    who_zh = f"\n未完成:{'、'.join(deadline.owed_by)}" if deadline.owed_by else ""
    who_en = f"\nStill owed by: {', '.join(deadline.owed_by)}" if deadline.owed_by else ""
    how = deadline.mark or f"--done {deadline.key}"
    mark = f"dr incident update {incident.id} {how}"
    note_zh = f"\n注意:{deadline.note[0]}" if deadline.note else ""
    note_en = f"\nNote: {deadline.note[1]}" if deadline.note else ""
    return Message(
        key=f"{incident.id}:deadline:{deadline.key}:{stage}",
        level=incident.level,
        title=Text(
            zh=f"[dr] {incident.id} {zh_head}:{deadline.what[0]}",
            en=f"[dr] {incident.id} {en_head}: {deadline.what[1]}",
        ),
        body=Text(
            zh=f"{incident.summary}\n{deadline.what[0]},{zh_tail}。{who_zh}{note_zh}\n"
            f"完成后登记:{mark}",
            en=f"{incident.summary}\n{deadline.what[1]}, {en_tail}.{who_en}{note_en}\n"
            f"When done, record it: {mark}",
        ),
        recipients=owed,
        context={"incident_id": incident.id, "kind": f"deadline-{stage}", "deadline": deadline.key},
    )


def approval_message(
    incident: Incident, inventory: Inventory, run_id: str, runbook: str, step_id: str
) -> Message:
    """A run of an orange/red incident waits for the leadership group's approval."""
    # From the approver's own OS account; the one-time code sent to them works anywhere.
    command = f"dr approve {run_id} {step_id} [--code CODE]"
    return Message(
        key=f"{incident.id}:approval:{run_id}:{step_id}",
        level=incident.level,
        title=Text(
            zh=f"[dr] {incident.id} 待领导小组审批:{runbook} / {step_id}",
            en=f"[dr] {incident.id} awaiting the leadership's approval: {runbook} / {step_id}",
        ),
        body=Text(
            zh=f"{incident.summary}\n运行 {run_id} 等待审批,须由本级名单中的领导小组成员审批:"
            f"{command}",
            en=f"{incident.summary}\nRun {run_id} waits for approval by the leadership group "
            f"on this level's roster: {command}",
        ),
        recipients=roster(inventory, incident.level),
        context={"incident_id": incident.id, "kind": "approval", "run_id": run_id},
    )


def grade_message(incident: Incident, inventory: Inventory) -> Message:
    grade = incident.grade or ""
    names = {"I": ("特别重大", "critical"), "II": ("重大", "major"), "III": ("较大", "serious")}
    zh, en = names.get(grade, (grade, grade))
    return Message(
        key=f"{incident.id}:grade:{grade}",
        level=incident.level,
        title=Text(
            zh=f"[dr] {incident.id} 事件定级:{grade}级({zh})",
            en=f"[dr] {incident.id} incident graded {grade} ({en})",
        ),
        body=Text(
            zh=f"{incident.summary}\n按业务中断范围和时长定为{grade}级。"
            + ("须每2小时向监管部门报告进展。" if grade == "I" else ""),
            en=f"{incident.summary}\nGraded {grade} by the scope and length of the outage."
            + (" Progress goes to the regulator every 2 h." if grade == "I" else ""),
        ),
        recipients=roster(inventory, incident.level),
        context={"incident_id": incident.id, "kind": "grade"},
    )


def closed_message(incident: Incident, inventory: Inventory) -> Message:
    return Message(
        key=f"{incident.id}:closed",
        level=incident.level,
        title=Text(zh=f"[dr] {incident.id} 事件结束", en=f"[dr] {incident.id} incident closed"),
        body=Text(
            zh=f"{incident.summary}\n结束:{incident.resolution}",
            en=f"{incident.summary}\nClosed: {incident.resolution}",
        ),
        recipients=roster(inventory, incident.level),
        context={"incident_id": incident.id, "kind": "closed"},
    )


def _cause(cause: str, lang: str) -> str:
    names = {
        "opened": ("事件登记", "incident declared"),
        "time": ("超过时限未解决,按预案自动升级", "not resolved in time: escalated by the plan"),
        "run": ("运行手册判定", "declared by a runbook"),
        "manual": ("人工调整", "set by an operator"),
    }
    zh, en = names.get(cause, (cause, cause))
    return zh if lang == "zh" else en


def local_text(moment: datetime, inventory: Inventory) -> str:
    """`moment` in the inventory's zone, labelled with its offset as every printed time is
    ('2026-12-07 08:25 UTC+08:00'; "CST" would read as US Central to a mail client)."""
    return shown_time(moment, zone_of(inventory), seconds=False)
