"""The RPO watch of a `postgres-pitr` set: how old the newest archived WAL is in each
repository, and which repositories break the set's RPO.

For a continuously archived cluster the recovery point is the newest WAL segment a
repository holds, not its newest base backup: a base backup a week old restores to a
minute ago if the WAL since is there. Each repository is judged on its own, because a
lost data centre may leave only the offsite one: a repository whose archiving fails (the
offsite endpoint refusing uploads) falls behind while the other stays fresh, and the
operator must hear which one. A repository that cannot be read, holds no WAL, or has
no base backup to replay it onto proves no recovery point at all, and breaks the RPO too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from backups.pitr.context import PitrContext
from backups.pitr.listing import list_backups
from orchestrator.inventory import format_duration


@dataclass(frozen=True)
class RepositoryFreshness:
    repository: int
    location: str
    newest_wal: str | None
    newest_arrived: str | None
    age_seconds: float | None
    base_backups: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RpoBreach:
    """One repository over the set's RPO, and why, in the operator's words."""

    repository: int
    location: str
    age_seconds: float | None
    target_seconds: int
    newest_wal: str | None
    message: str


def freshness(ctx: PitrContext, *, now: datetime | None = None) -> list[RepositoryFreshness]:
    """Per repository, its newest archived WAL and how old it is (pgBackRest info and
    repo-ls); raises DrError when pgBackRest cannot be run at all."""
    document = list_backups(ctx, now=now or datetime.now(UTC))
    return [
        RepositoryFreshness(
            repository=entry["repository"],
            location=entry["location"],
            newest_wal=(entry["wal"] or {}).get("newest"),
            newest_arrived=(entry["wal"] or {}).get("newest_arrived"),
            age_seconds=entry["newest_wal_age_seconds"],
            base_backups=len(entry["backups"]),
            error=entry["error"],
        )
        for entry in document["repositories"]
    ]


def breaches(found: list[RepositoryFreshness], target_seconds: int) -> list[RpoBreach]:
    """The repositories that prove no recovery point within `target_seconds`."""
    return [b for b in (_judge(f, target_seconds) for f in found) if b is not None]


def _judge(found: RepositoryFreshness, target: int) -> RpoBreach | None:
    where = f"repo{found.repository} ({found.location})"
    goal = format_duration(target)
    if found.age_seconds is None:
        why = found.error or "it holds no archived WAL yet"
        message = f"{where}: no recovery point can be read ({why}); RPO target {goal}"
    elif found.base_backups == 0:
        message = (
            f"{where}: WAL is archived but there is no base backup to replay it onto "
            f"(dr backup run); RPO target {goal}"
        )
    elif found.age_seconds > target:
        message = (
            f"{where}: the newest archived WAL ({found.newest_wal}) arrived "
            f"{format_duration(found.age_seconds)} ago, RPO target {goal}: archiving into "
            "this repository is failing or stalled (see pgBackRest's log and "
            "pg_stat_archiver on the database host)"
        )
    else:
        return None
    return RpoBreach(
        found.repository, found.location, found.age_seconds, target, found.newest_wal, message
    )
