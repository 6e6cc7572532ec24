"""Nobody misses a failed backup: what the scheduler's jobs found becomes an incident.

A failed or partial backup, a failed restore test, a failed pgBackRest check or verify,
a missed run and an RPO breach open an incident in category `system`, at blue (an RPO
breach: yellow, data already at risk), so the level's roster hears of it through the
incidents' own notices and the seed's blue → yellow rule escalates it after 48 h. The
scheduler is one more alert source: each subject (a job, or a set's RPO) is an alert key
journaled as `incident.alert` events (source `scheduler`, status firing or resolved), as
`orchestrator.alerts.intake` does for Alertmanager, so one open incident per subject
collects every repeat instead of a new one each night.

The roster is told when the state changes: at the first failure (the level's notice),
when a recovered job fails again, and when it recovers. A repeat of a failure is only
noted on the incident. A recovery never closes the incident: the operator does, once
satisfied (`dr incident close`).

Nothing here may fail a job: `settle` logs and swallows its own errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.alerts.intake import open_incident_for
from orchestrator.incidents import IncidentStore, handling
from orchestrator.incidents.handling import IncidentUpdate
from orchestrator.incidents.messages import roster
from orchestrator.incidents.records import Incident, iso
from orchestrator.inventory.field_types import AlertLevel
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.scheduler_settings import PINGED_JOBS
from orchestrator.journal import Journal
from orchestrator.masking import known_secrets
from orchestrator.notify import Message
from orchestrator.scheduler import deadman
from orchestrator.text import Text

log = logging.getLogger(__name__)

ACTOR = SOURCE = "scheduler"
CATEGORY = "system"
# What each kind of finding is, in both languages, and the level its incident opens at.
KINDS: dict[str, tuple[str, str, AlertLevel]] = {
    "backup": ("备份失败", "backup failed", "blue"),
    "restore-test": ("恢复测试失败", "restore test failed", "blue"),
    "check": ("备份检查失败", "pgbackrest check failed", "blue"),
    "verify": ("备份校验失败", "pgbackrest verify failed", "blue"),
    "missed": ("计划任务未运行", "scheduled job missed its run", "blue"),
    "rpo": ("超出恢复点目标(RPO)", "RPO breached", "yellow"),
}
MAX_REASON = 300  # of the summary every notice repeats; the journal keeps the whole text


@dataclass(frozen=True)
class JobOutcome:
    """How one run of a job went, or what the RPO watchdog found."""

    subject: str  # a job id ("backup:credit"), or "rpo:SET" / "rpo:SET:repoN"
    kind: str  # a key of KINDS: what a failure of this subject is
    ok: bool
    reason: str = ""  # why it failed (or, when ok, how it went)
    backup_set: str | None = None

    def alert_key(self, inventory: Inventory) -> str:
        # With the inventory's name: two inventories may share one journal database.
        return f"{SOURCE}:{inventory.name}:{self.subject}"

    @property
    def level(self) -> AlertLevel:
        return KINDS[self.kind][2]


class JobRun:
    """A reporting job's verdict, filled in as it runs (see `reported`)."""

    def __init__(self, job_id: str, kind: str, backup_set: str | None) -> None:
        self.job_id, self.kind, self.backup_set = job_id, kind, backup_set
        self.ok: bool | None = None
        self.reason = ""

    def done(self, ok: bool, reason: str = "") -> None:
        self.ok, self.reason = ok, reason

    def failed(self, reason: str) -> None:
        self.done(False, reason)

    def outcome(self) -> JobOutcome:
        ok = bool(self.ok)
        return JobOutcome(self.job_id, self.kind, ok, self.reason, self.backup_set)


@contextmanager
def reported(
    journal: Journal, inventory: Inventory, job_id: str, kind: str, backup_set: str
) -> Iterator[JobRun]:
    """Around one run of a backup set's job: the dead-man's switch hears /start, then
    the verdict the job gave (`run.done`, `run.failed`) goes to the switch and to the
    incidents. A job that raised, or gave no verdict, failed."""
    _ping(journal, inventory, job_id, "start")
    run = JobRun(job_id, kind, backup_set)
    try:
        yield run
    except BaseException as err:
        if run.ok is None:
            run.failed(f"the job stopped on an unexpected {type(err).__name__}")
        raise
    finally:
        if run.ok is None:
            run.failed("the job gave no verdict")
        finish(journal, inventory, run.outcome())


def missed_outcome(job_id: str, late: str) -> JobOutcome | None:
    """A backup set's job that missed its run, as a failure of that job (its next good
    run recovers it); None for the interval jobs (the RPO watchdog, the textfile, the
    incident tick), which run again within minutes and lose nothing by a missed run."""
    kind, _, set_name = job_id.partition(":")
    if kind not in PINGED_JOBS or not set_name:
        return None
    return JobOutcome(job_id, "missed", False, late, set_name)


def finish(journal: Journal, inventory: Inventory, outcome: JobOutcome) -> None:
    """Tell the subject's switch (if it has one) first, being quick, then its incident."""
    _ping(journal, inventory, outcome.subject, "success" if outcome.ok else "fail", outcome.reason)
    settle(journal, inventory, outcome)


def _ping(
    journal: Journal, inventory: Inventory, job_id: str, stage: deadman.Stage, reason: str = ""
) -> None:
    try:
        deadman.ping(inventory, journal, job_id, stage, reason)
    except Exception:  # deadman journals its own failures; this is a fault of ours
        log.exception("the dead-man's switch of %s could not be told", job_id)


def summary(outcome: JobOutcome) -> str:
    """The incident's one-line summary, in both languages, with the reason (shortened)."""
    zh, en, _ = KINDS[outcome.kind]
    reason = shorten(outcome.reason)
    tail = f": {reason}" if reason else ""
    return f"[scheduler / 调度] {zh} / {en} — {outcome.subject}{tail}"


def shorten(text: str, limit: int = MAX_REASON) -> str:
    one_line = " ".join(known_secrets()(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def settle(
    journal: Journal, inventory: Inventory, outcome: JobOutcome, *, now: datetime | None = None
) -> str | None:
    """Open, update or note the recovery on the subject's incident; its id, or None.
    Never raises: a fault here is logged, and the job's own result stands."""
    try:
        return _settle(journal, inventory, outcome, now or datetime.now(UTC))
    except Exception:
        log.exception("could not record %s on an incident", outcome.subject)
        return None


def _settle(
    journal: Journal, inventory: Inventory, outcome: JobOutcome, now: datetime
) -> str | None:
    key = outcome.alert_key(inventory)
    current = open_incident_for(journal, key)
    if current is None:
        if outcome.ok:
            return None
        return _open(journal, inventory, outcome, now)
    firing = last_status(journal, current, key) == "firing"
    if outcome.ok and not firing:
        return current  # recovered already, and still fine: nothing to say
    if not outcome.ok and firing:
        note = f"again / 再次发生: {summary(outcome)}"
        _record(journal, current, key, outcome, now, repeat=True)
        handling.update_incident(
            journal, current, IncidentUpdate(note=note), actor=ACTOR, inventory=inventory, now=now
        )
        return current
    # A state change on an open incident: recovered, or failing again after recovering.
    seq = _record(journal, current, key, outcome, now)
    store = IncidentStore(journal)
    try:
        incident = store.get(current)
        message = change_message(incident, inventory, outcome, seq)
        store.ledger.claim_notice(incident, message.key, "job-alert", now, message.to_dict())
    finally:
        store.dispose()
    note = (
        f"recovered / 已恢复: {outcome.subject} {shorten(outcome.reason)}".rstrip()
        if outcome.ok
        else f"failing again / 再次失败: {summary(outcome)}"
    )
    # The update's own tick delivers the notice claimed above.
    handling.update_incident(
        journal, current, IncidentUpdate(note=note), actor=ACTOR, inventory=inventory, now=now
    )
    return current


def _open(journal: Journal, inventory: Inventory, outcome: JobOutcome, now: datetime) -> str:
    handled = handling.open_incident(
        journal,
        inventory,
        category=CATEGORY,
        level=outcome.level,
        summary=summary(outcome),
        actor=ACTOR,
        started_at=now,
        business_stopped=False,  # the business runs on; its safety net does not
        now=now,
    )
    incident_id = handled.incident.id
    _record(journal, incident_id, outcome.alert_key(inventory), outcome, now)
    sent = sum(d["sent"] for d in handled.notices.deliveries)
    log.warning(
        "%s: opened incident %s (%s), %d notice(s) delivered",
        outcome.subject, incident_id, outcome.level, sent,
    )  # fmt: skip
    return incident_id


def last_status(journal: Journal, incident_id: str, alert_key: str) -> str | None:
    """firing or resolved: the last thing said about `alert_key` on the incident."""
    store = IncidentStore(journal)
    try:
        said = [
            e.data.get("status")
            for e in store.timeline(incident_id)
            if e.kind == "incident.alert" and e.data.get("alert_key") == alert_key
        ]
    finally:
        store.dispose()
    return str(said[-1]) if said else None


def change_message(
    incident: Incident, inventory: Inventory, outcome: JobOutcome, seq: int
) -> Message:
    """The notice of a state change: recovered, or failing again after a recovery."""
    zh_what, en_what, _ = KINDS[outcome.kind]
    close = f"dr incident close {incident.id} --resolution TEXT"
    if outcome.ok:
        title = Text(
            zh=f"[dr] {incident.id} 已恢复:{outcome.subject}",
            en=f"[dr] {incident.id} recovered: {outcome.subject}",
        )
        body = Text(
            zh=f"{incident.summary}\n{outcome.subject} 已恢复正常。事件不会自动关闭,"
            f"确认后请关闭:{close}",
            en=f"{incident.summary}\n{outcome.subject} is fine again. The incident stays "
            f"open until you close it: {close}",
        )
        state = "recovered"
    else:
        reason = shorten(outcome.reason)
        title = Text(
            zh=f"[dr] {incident.id} 再次失败:{zh_what}({outcome.subject})",
            en=f"[dr] {incident.id} failing again: {en_what} ({outcome.subject})",
        )
        body = Text(
            zh=f"{incident.summary}\n恢复后再次失败:{reason}",
            en=f"{incident.summary}\nFailed again after recovering: {reason}",
        )
        state = "failing"
    return Message(
        key=f"{incident.id}:job:{outcome.subject}:{state}:{seq}",
        level=incident.level,
        title=title,
        body=body,
        recipients=roster(inventory, incident.level),
        context={"incident_id": incident.id, "kind": "job-alert", "subject": outcome.subject},
    )


def _record(
    journal: Journal,
    incident_id: str,
    key: str,
    outcome: JobOutcome,
    now: datetime,
    *,
    repeat: bool = False,
) -> int:
    data: dict[str, Any] = {
        "incident_id": incident_id,
        "alert_key": key,
        "source": SOURCE,
        "status": "resolved" if outcome.ok else "firing",
        "labels": {"subject": outcome.subject, "kind": outcome.kind}
        | ({"backup_set": outcome.backup_set} if outcome.backup_set else {}),
        "started_at": iso(now),
        "reason": known_secrets()(outcome.reason),
    }
    if repeat:
        data["repeat"] = True
    return journal.append("incident.alert", actor=ACTOR, data=data)
