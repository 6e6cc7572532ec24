"""The notices an incident owes, each recorded once under a unique key and then
delivered once: what makes `dr incident tick` idempotent, also across two daemons.

A notice is `pending` when recorded, `sending` while one process delivers it (one left
`sending` by a crash is taken again after `stale_after` seconds), then `delivered`,
`partial` or `failed`. Every transition is a journaled event whose projection checks the
previous state, so two processes cannot both take the same notice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from orchestrator.incidents.records import Incident, NoticeRecord, iso
from orchestrator.journal import schema as tables

if TYPE_CHECKING:
    from orchestrator.incidents.store import IncidentStore


class _Taken(Exception):
    """Someone else recorded or took this notice first."""


class NoticeLedger:
    def __init__(self, store: IncidentStore) -> None:
        self._store = store
        self._journal = store.journal

    def claim_notice(
        self, incident: Incident, key: str, kind: str, due_at: datetime, detail: dict[str, Any]
    ) -> bool:
        """Record that the notice `key` is owed, once; False if it already was."""
        row = {
            "incident_id": incident.id,
            "key": key,
            "kind": kind,
            "status": "pending",
            "due_at": iso(due_at),
            "level": incident.level,
            "detail": detail,
        }

        def project(conn: Connection) -> None:
            cols = tables.incident_notices.c
            if conn.execute(select(cols.id).where(cols.key == key)).first() is not None:
                raise _Taken(key)
            conn.execute(insert(tables.incident_notices).values(**row))

        try:
            self._journal.append(
                "incident.notice_due",
                data={k: v for k, v in row.items() if k != "status"},
                projection=project,
            )
        except _Taken:
            return False
        return True

    def take_pending_notices(
        self, incident_id: str, stale_after: float = 900
    ) -> list[NoticeRecord]:
        """Claim for delivery every pending notice (and any left `sending` by a crash)."""
        taken = []
        for notice in self._store.notices(incident_id):
            if notice.status == "sending" and notice.claimed_at is not None:
                age = (
                    datetime.now(UTC) - datetime.fromisoformat(notice.claimed_at)
                ).total_seconds()
                if age < stale_after:
                    continue
            elif notice.status != "pending":
                continue
            if self._move_notice(notice, notice.status, "sending"):
                taken.append(replace(notice, status="sending"))
        return taken

    def finish_notice(self, notice: NoticeRecord, status: str, summary: dict[str, Any]) -> None:
        cols = tables.incident_notices.c
        values = {"status": status, "finished_at": iso(datetime.now(UTC))}

        def project(conn: Connection) -> None:
            conn.execute(
                update(tables.incident_notices).where(cols.key == notice.key).values(**values)
            )

        self._journal.append(
            "incident.notice_finished",
            data={
                "incident_id": notice.incident_id,
                "key": notice.key,
                "status": status,
                **summary,
            },
            projection=project,
        )

    def _move_notice(self, notice: NoticeRecord, old: str, new: str) -> bool:
        cols = tables.incident_notices.c
        values = {"status": new, "claimed_at": datetime.now(UTC).isoformat()}

        def project(conn: Connection) -> None:
            done = conn.execute(
                update(tables.incident_notices)
                .where(cols.key == notice.key, cols.status == old)
                .values(**values)
            )
            if done.rowcount != 1:
                raise _Taken(notice.key)

        try:
            self._journal.append(
                "incident.notice_sending",
                data={"incident_id": notice.incident_id, "key": notice.key},
                projection=project,
            )
        except _Taken:
            return False
        return True
