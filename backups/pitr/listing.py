"""`dr backup list SET` for a `postgres-pitr` set: per repository, the base backups
(times, sizes, WAL range), the archived WAL (oldest and newest segment, and when the
newest arrived), and the recovery window; then the RPO clock.

The window a point-in-time recovery can reach from a repository runs from the end of
its oldest base backup (the first moment a restored cluster is consistent) to the
arrival of its newest archived WAL segment. The RPO age is how old that newest segment
is: what a loss now would cost, whatever the base backups' age. The best repository
sets the set's window and age; the others are shown beside it, since a lost data centre
may leave only the offsite one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backups.pgbackrest.errors import repository_problem
from backups.pgbackrest.info import StanzaInfo
from backups.pitr.context import PitrContext
from backups.pitr.session import StanzaSession
from orchestrator.errors import DrError


def list_backups(ctx: PitrContext, *, now: datetime | None = None) -> dict[str, Any]:
    moment = now or datetime.now(UTC)
    bset = ctx.backup_set
    session = ctx.session()
    stanza = session.info(bset.timeouts.other)
    repositories = [
        _repository(ctx, session, stanza, index, moment)
        for index in range(1, len(session.settings.repositories) + 1)
    ]
    reachable = [r for r in repositories if r["window"]["to"] is not None]
    newest = max(reachable, key=lambda r: r["window"]["to"], default=None)
    earliest = min(
        (r["window"]["from"] for r in reachable if r["window"]["from"] is not None),
        default=None,
    )
    age = None if newest is None else int(newest["newest_wal_age_seconds"])
    return {
        "backup_set": bset.name,
        "kind": bset.kind,
        "stanza": bset.stanza,
        "pgbackrest_version": str(session.version),
        "backup_running": stanza.backup_running,
        "repositories": repositories,
        "recovery_window": {
            "from": earliest,
            "to": None if newest is None else newest["window"]["to"],
        },
        "rpo": {
            "age_seconds": age,
            "target_seconds": bset.rpo,
            "met": None if bset.rpo is None or age is None else age <= bset.rpo,
        },
    }


def _repository(
    ctx: PitrContext, session: StanzaSession, stanza: StanzaInfo, index: int, now: datetime
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "repository": index,
        "location": session.settings.repositories[index - 1].describe(),
        "backups": [],
        "wal": None,
        "window": {"from": None, "to": None},
        "newest_wal_age_seconds": None,
        "error": None,
    }
    status = next((r for r in stanza.repositories if r.repository == index), None)
    if status is not None:
        problem = repository_problem(
            status.code, status.message, what=f"repo{index}", where=session.describe()
        )
        if problem is not None:
            entry["error"] = problem.message
            return entry
    backups = stanza.backups_in(index)
    entry["backups"] = [b.to_dict() for b in backups]
    archive = stanza.archive_in(index)
    if archive is None or archive.newest is None:
        return entry
    arrived = None
    try:
        arrived = session.newest_wal_time(
            index, archive.archive_id, archive.newest, ctx.backup_set.timeouts.other
        )
    except DrError as err:
        entry["error"] = f"cannot tell when WAL {archive.newest} arrived: {err.message}"
    entry["wal"] = {
        "archive_id": archive.archive_id,
        "oldest": archive.oldest,
        "newest": archive.newest,
        "newest_arrived": None if arrived is None else arrived.isoformat(),
    }
    if backups and arrived is not None:
        entry["oldest_backup_start"] = backups[0].start.isoformat()
        entry["window"] = {"from": backups[0].stop.isoformat(), "to": arrived.isoformat()}
    if arrived is not None:
        entry["newest_wal_age_seconds"] = max(0.0, (now - arrived).total_seconds())
    return entry
