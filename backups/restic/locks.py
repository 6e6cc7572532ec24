"""Repository locks: `list locks`, `cat lock ID` (JSON in every version), `unlock`.

restic 0.14 cannot remove one chosen lock. `unlock` (never with --remove-all) removes the
locks *restic* calls stale: older than 30 minutes, or made on this host by a process that
is gone. `restic_thinks_stale` mirrors that rule so the caller can run `unlock` only when
every lock it would remove is one our stricter rule also allows removing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from backups.restic.snapshots import parse_time

# restic's own staleness age (internal/restic/lock.go); locks are refreshed every 5 min.
RESTIC_STALE_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class LockInfo:
    id: str
    time: datetime
    exclusive: bool
    hostname: str
    username: str
    pid: int

    def describe(self, now: datetime) -> str:
        age = int((now - self.time).total_seconds())
        kind = "exclusive" if self.exclusive else "shared"
        return (
            f"{kind} lock {self.id[:8]} by PID {self.pid} on {self.hostname} "
            f"(user {self.username}), made {self.time:%Y-%m-%d %H:%M:%S} UTC, {age}s ago"
        )


def build_list_locks() -> list[str]:
    # --no-lock: listing must work while someone holds an exclusive lock.
    return ["list", "locks", "--no-lock"]


def parse_list_locks(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()]


def build_cat_lock(lock_id: str) -> list[str]:
    return ["cat", "lock", "--no-lock", lock_id]


def parse_lock(lock_id: str, output: str) -> LockInfo:
    data = json.loads(output)
    return LockInfo(
        id=lock_id,
        time=parse_time(str(data["time"])),
        exclusive=bool(data.get("exclusive", False)),
        hostname=str(data.get("hostname", "")),
        username=str(data.get("username", "")),
        pid=int(data.get("pid", 0)),
    )


def build_unlock() -> list[str]:
    # Never "--remove-all": that would also remove the locks of live processes.
    return ["unlock"]


def restic_thinks_stale(
    lock: LockInfo, *, now: datetime, hostname: str, process_exists: bool
) -> bool:
    if now - lock.time > RESTIC_STALE_AFTER:
        return True
    return lock.hostname == hostname and not process_exists
