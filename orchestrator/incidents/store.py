"""The incident store: every change is one journaled `incident.*` event whose projection
updates the `incidents` row in the same transaction, so the hash-chained timeline and the
table never disagree.

Reading (for reports and the CLI):
    store = IncidentStore(journal)
    store.get(incident_id) -> Incident            # current state (records.Incident)
    store.incidents(status="open" | "closed" | None)  # newest first
    store.timeline(incident_id) -> [EventRecord]  # every incident.* / notification.* event
    store.runs(incident_id) -> [RunRecord]        # runs started with --incident ID
    store.notices(incident_id) -> [NoticeRecord]  # escalation notices and reminders owed

Writing: open, update, set_level, raise_grade, mark_on_site, mark_deadline_met,
record_progress, close; what stays owed after the incident (reporting days, re-entry, the
immediate report: add_reporting_days, confirm_reentry, ...) in aftermath_writes.py;
`store.ledger` records the notices owed (notices.py). Every
writer takes `at`, the moment the change takes effect (default: now), so tests and the
tick can run on a controlled clock; the event's own `at` stays the wall-clock time it
was written.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from orchestrator.errors import IncidentClosed, IncidentNotFound, UserInputError
from orchestrator.incidents.aftermath_writes import AftermathWriters
from orchestrator.incidents.deadlines import owed_after_close
from orchestrator.incidents.notices import NoticeLedger
from orchestrator.incidents.records import Incident, NoticeRecord, iso
from orchestrator.incidents.rules import Grade, Scope, grade_rank, level_rank
from orchestrator.inventory.field_types import AlertCategory, AlertLevel
from orchestrator.journal import Journal, RunRecord
from orchestrator.journal import schema as tables
from orchestrator.journal.database import make_engine
from orchestrator.journal.records import EventRecord

_RETRIES = 8


class _Stale(Exception):
    """Someone else changed the incident between our read and our write: read again."""


class IncidentStore(AftermathWriters):
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._engine = make_engine(journal.url)
        self.ledger = NoticeLedger(self)

    def dispose(self) -> None:
        """Release the store's connections (the journal stays open)."""
        self._engine.dispose()

    # ---- reading -------------------------------------------------------------------

    def get(self, incident_id: str) -> Incident:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(tables.incidents).where(tables.incidents.c.id == incident_id)
            ).first()
        if row is None:
            raise IncidentNotFound(
                f"no incident {incident_id!r} in the journal ({self.journal.describe()}); "
                "list them with `dr incident list`. / 没有此事件编号。"
            )
        return Incident.from_row(row)

    def require_open(self, incident_id: str) -> Incident:
        incident = self.get(incident_id)
        if not incident.is_open:
            raise IncidentClosed(
                f"incident {incident_id} was closed at {incident.closed_at}; open a new one "
                "with `dr incident open`. / 该事件已关闭。"
            )
        return incident

    def incidents(self, status: str | None = None, limit: int = 100) -> list[Incident]:
        """Incidents, newest first; all of them, or only the open or the closed ones."""
        cols = tables.incidents.c
        query = select(tables.incidents).order_by(cols.started_at.desc()).limit(limit)
        if status is not None:
            query = query.where(cols.status == status)
        with self._engine.connect() as conn:
            return [Incident.from_row(row) for row in conn.execute(query)]

    def timeline(self, incident_id: str) -> list[EventRecord]:
        """The incident's own events plus the alert levels declared by its runs."""
        cols = tables.events.c
        # canonical_json writes `"incident_id":"ID"` in exactly this spelling.
        own = cols.kind.like("incident.%") | cols.kind.like("notification.%")
        mine = own & cols.data.contains(f'"incident_id":{json.dumps(incident_id)}', autoescape=True)
        run_ids = [run.id for run in self.runs(incident_id)]
        if run_ids:
            mine = mine | ((cols.kind == "alert_level") & cols.run_id.in_(run_ids))
        query = select(tables.events).where(mine).order_by(cols.seq)
        with self._engine.connect() as conn:
            return [EventRecord.from_row(r) for r in conn.execute(query)]

    def with_undelivered_notices(self) -> list[str]:
        """Ids of incidents (open or closed) with notices not yet delivered."""
        cols = tables.incident_notices.c
        query = select(cols.incident_id).where(cols.status.in_(("pending", "sending"))).distinct()
        with self._engine.connect() as conn:
            return [row.incident_id for row in conn.execute(query)]

    def runs(self, incident_id: str) -> list[RunRecord]:
        cols = tables.runs.c
        query = select(tables.runs).where(cols.incident_id == incident_id).order_by(cols.started_at)
        with self._engine.connect() as conn:
            return [RunRecord(**row._asdict()) for row in conn.execute(query)]

    def notices(self, incident_id: str) -> list[NoticeRecord]:
        cols = tables.incident_notices.c
        query = (
            select(tables.incident_notices).where(cols.incident_id == incident_id).order_by(cols.id)
        )
        with self._engine.connect() as conn:
            return [
                NoticeRecord(**{k: v for k, v in row._asdict().items() if k != "id"})
                for row in conn.execute(query)
            ]

    # ---- writing -------------------------------------------------------------------

    def open(
        self,
        *,
        inventory_name: str,
        inventory_path: str | None,
        category: AlertCategory,
        level: AlertLevel,
        summary: str,
        actor: str,
        scope: Scope | None = None,
        started_at: datetime | None = None,
        business_stopped: bool = True,
        at: datetime | None = None,
    ) -> Incident:
        """Declare an incident. `started_at` is when it began (default: now)."""
        now = _now(at)
        began = started_at or now
        if began > now:
            raise UserInputError("--started-at is in the future; give when the incident began")
        if not summary.strip():
            raise UserInputError("--summary is empty: say in one line what is wrong")
        incident = Incident(
            id=f"INC-{began.astimezone(UTC):%Y%m%d-%H%M}-{secrets.token_hex(2)}",
            inventory_name=inventory_name,
            inventory_path=inventory_path,
            category=category,
            level=level,
            level_since=began,
            grade=None,
            summary=summary.strip(),
            status="open",
            started_at=began,
            opened_by=actor,
            scope=scope or Scope(),
            outage_started_at=began if business_stopped else None,
        )
        row = _row(incident)

        def project(conn: Connection) -> None:
            conn.execute(insert(tables.incidents).values(**row))

        skip = ("on_site", "deadlines_met", "aftermath", "version")
        data = {k: v for k, v in row.items() if k not in skip}
        self.journal.append(
            "incident.opened",
            actor=actor,
            data={"incident_id": incident.id, **data},
            projection=project,
        )
        return incident

    def update(
        self,
        incident_id: str,
        *,
        actor: str,
        summary: str | None = None,
        scope: Scope | None = None,
        business_restored: bool = False,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Incident:
        now = _now(at)

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            changes: dict[str, Any] = {}
            if summary is not None and summary.strip() and summary.strip() != inc.summary:
                changes["summary"] = summary.strip()
            if scope is not None and scope != inc.scope:
                changes["scope"] = scope
            if business_restored and inc.outage_started_at and inc.outage_ended_at is None:
                changes["outage_ended_at"] = now
            if not changes and not note:
                return None
            data = {k: (asdict(v) if isinstance(v, Scope) else v) for k, v in changes.items()}
            data = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in data.items()}
            return replace(inc, **changes), {"changes": data, "note": note, "at": iso(now)}

        return self._change(incident_id, "incident.updated", actor, change)

    def set_level(
        self,
        incident_id: str,
        level: AlertLevel,
        *,
        cause: str,
        actor: str | None,
        reason: str,
        at: datetime | None = None,
        run_id: str | None = None,
        raise_only: bool = True,
    ) -> bool:
        """Change the level; `raise_only` (everything automatic) never lowers it.

        `cause` is "manual", "time" (an escalation rule) or "run" (a runbook's alert level).
        Returns whether the level changed.
        """
        moment = _now(at)

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            if level == inc.level or (raise_only and level_rank(level) < level_rank(inc.level)):
                return None
            data = {
                "from": inc.level,
                "to": level,
                "cause": cause,
                "reason": reason,
                "run_id": run_id,
                "at": iso(moment),
            }
            return replace(inc, level=level, level_since=moment), data

        before = self.get(incident_id).version
        after = self._change(incident_id, "incident.level_changed", actor, change)
        return after.version != before

    def raise_grade(
        self, incident_id: str, grade: Grade, *, outage_seconds: float, at: datetime
    ) -> None:
        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            if grade_rank(grade) <= grade_rank(inc.grade):
                return None
            data = {
                "from": inc.grade,
                "to": grade,
                "outage_seconds": round(outage_seconds),
                "at": iso(at),
            }
            return replace(inc, grade=grade), data

        self._change(incident_id, "incident.grade_changed", None, change)

    def mark_on_site(
        self, incident_id: str, contact: str, *, actor: str, at: datetime | None = None
    ) -> Incident:
        now = _now(at)

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            if contact in inc.on_site:
                return None
            on_site = {**inc.on_site, contact: iso(now)}
            return replace(inc, on_site=on_site), {"contact": contact, "at": iso(now)}

        return self._change(incident_id, "incident.on_site", actor, change)

    def mark_deadline_met(
        self, incident_id: str, deadline: str, *, actor: str, at: datetime | None = None
    ) -> Incident:
        """Record a deadline met; those owed after the incident (deadlines.AFTER_CLOSE)
        may be marked on a closed incident too."""
        now = _now(at)

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            if deadline in inc.deadlines_met:
                return None
            met = {**inc.deadlines_met, deadline: iso(now)}
            return replace(inc, deadlines_met=met), {"deadline": deadline, "at": iso(now)}

        after_close = owed_after_close(deadline)
        return self._change(
            incident_id, "incident.deadline_met", actor, change, allow_closed=after_close
        )

    def record_progress(
        self, incident_id: str, text: str, *, actor: str, at: datetime | None = None
    ) -> Incident:
        now = _now(at)

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            return replace(inc, last_progress_at=now), {"text": text, "at": iso(now)}

        return self._change(incident_id, "incident.progress", actor, change)

    def close(
        self, incident_id: str, *, actor: str, resolution: str, at: datetime | None = None
    ) -> Incident:
        now = _now(at)
        if not resolution.strip():
            raise UserInputError("--resolution is empty: say how the incident ended")

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            ended = inc.outage_ended_at or (now if inc.outage_started_at else None)
            closed = replace(
                inc,
                status="closed",
                closed_at=now,
                closed_by=actor,
                resolution=resolution.strip(),
                outage_ended_at=ended,
            )
            return closed, {"resolution": resolution.strip(), "at": iso(now)}

        return self._change(incident_id, "incident.closed", actor, change)

    # ---- internals -----------------------------------------------------------------

    def _change(
        self,
        incident_id: str,
        kind: str,
        actor: str | None,
        change: Callable[[Incident], tuple[Incident, dict[str, Any]] | None],
        *,
        allow_closed: bool = False,
    ) -> Incident:
        """Read, change, write with the version checked; retried when someone was faster.
        Only what stays owed after an incident (`allow_closed`) changes a closed one."""
        for _ in range(_RETRIES):
            current = self.get(incident_id)
            if not current.is_open and not allow_closed:
                self.require_open(incident_id)
            outcome = change(current)
            if outcome is None:
                return current
            changed, data = outcome
            changed = replace(changed, version=current.version + 1)
            values = _row(changed)

            def project(
                conn: Connection, seen: int = current.version, values: dict[str, Any] = values
            ) -> None:
                cols = tables.incidents.c
                done = conn.execute(
                    update(tables.incidents)
                    .where(cols.id == incident_id, cols.version == seen)
                    .values(**values)
                )
                if done.rowcount != 1:
                    raise _Stale(incident_id)

            try:
                self.journal.append(
                    kind,
                    actor=actor,
                    data={"incident_id": incident_id, **data},
                    projection=project,
                )
            except _Stale:
                continue
            return changed
        raise UserInputError(
            f"incident {incident_id} kept changing under us; run the command again"
        )


def _now(at: datetime | None) -> datetime:
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise UserInputError("a time without a zone is ambiguous; give it with +08:00 or Z")
    return moment


def _row(incident: Incident) -> dict[str, Any]:
    doc = asdict(incident)
    doc["scope"] = asdict(incident.scope)
    doc["aftermath"] = incident.aftermath.to_dict()
    for key, value in list(doc.items()):
        if isinstance(value, datetime):
            doc[key] = iso(value)
    return doc
