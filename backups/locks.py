"""Locks: ours (one `dr` per backup set on this machine) and restic's (per repository).

Set lock: an fcntl lock on a file under the user's state directory. The kernel drops it
when the process dies, so a crashed run never blocks the next one, and the scheduler's
own lock (later) can be the same file.

Repository locks: restic writes one per running command. A lock blocking us is removed
only if (1) it was made on this host, (2) its process is gone and (3) it is older than
the set's `lock_stale_after`; restic 0.14 cannot remove one chosen lock, so `restic
unlock` (never --remove-all) is run only when every lock restic itself would call stale
meets those three conditions as well. Otherwise we wait and retry.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backups.restic.locks import LockInfo, restic_thinks_stale
from orchestrator.errors import BackupSetBusy
from orchestrator.private_files import private_directory

if TYPE_CHECKING:
    from backups.session import RepositorySession


@dataclass(frozen=True)
class LockPolicy:
    wait_seconds: int
    stale_after_seconds: int


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dr"


@contextlib.contextmanager
def backup_set_lock(name: str, *, wait_seconds: float = 0) -> Iterator[None]:
    """Hold the lock of backup set `name`, or raise BackupSetBusy naming its holder."""
    directory = private_directory(state_dir() / "locks")
    path = directory / f"backup-set-{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, name, wait_seconds)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, f"{os.getpid()} {datetime.now(UTC).isoformat(timespec='seconds')}\n".encode(), 0
        )
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _acquire(fd: int, path: Path, name: str, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = path.read_text().split()
                who = f"process {holder[0]} (since {holder[1]})" if len(holder) == 2 else "?"
                raise BackupSetBusy(
                    f"backup set {name!r} is busy: {who} is working on it. Wait for it to "
                    f"finish (or use --wait SECONDS); its lock file is {path}"
                ) from None
            time.sleep(0.2)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def removable(lock: LockInfo, policy: LockPolicy, *, now: datetime, hostname: str) -> bool:
    """Our rule: made on this host, by a process that is gone, and old enough."""
    old_enough = now - lock.time >= timedelta(seconds=policy.stale_after_seconds)
    return lock.hostname == hostname and not process_exists(lock.pid) and old_enough


def remove_stale_locks(
    session: RepositorySession,
    policy: LockPolicy,
    on_event: Callable[[str, dict[str, Any]], None],
    *,
    stopped_pids: frozenset[int] = frozenset(),
) -> bool:
    """Run `restic unlock` if that removes only locks our rule allows; True if it ran.

    `stopped_pids`: restic children this process itself stopped (a time limit, a
    cancelled early backup). restic 0.14 leaks the lock it is writing when SIGINT comes
    at that moment; such a lock is ours beyond doubt, so its age does not matter."""
    now, hostname = datetime.now(UTC), socket.gethostname()
    held = session.list_locks()
    restic_would = [
        lock
        for lock in held
        if restic_thinks_stale(
            lock,
            now=now,
            hostname=hostname,
            process_exists=process_exists(lock.pid) if lock.hostname == hostname else True,
        )
    ]
    ours = {
        lock.id
        for lock in held
        if removable(lock, policy, now=now, hostname=hostname)
        or (lock.hostname == hostname and lock.pid in stopped_pids and not process_exists(lock.pid))
    }
    if not restic_would or any(lock.id not in ours for lock in restic_would):
        return False
    session.unlock()
    for lock in restic_would:
        on_event(
            "backup.lock_removed",
            {
                "repository": session.repository.location,
                "lock": lock.id,
                "pid": lock.pid,
                "hostname": lock.hostname,
                "created_at": lock.time.isoformat(),
                "age_seconds": int((now - lock.time).total_seconds()),
            },
        )
    return True


def describe_holders(session: RepositorySession, policy: LockPolicy) -> str:
    """Who holds the repository, and what the operator can do about each lock."""
    now, hostname = datetime.now(UTC), socket.gethostname()
    try:
        held = session.list_locks()
    except Exception as err:  # we are already reporting a failure; say what we can
        return f"(the locks could not be listed: {err})"
    if not held:
        return "The lock is gone now; run the command again."
    lines = []
    for lock in held:
        if lock.hostname != hostname:
            advice = "made on another host: ask there whether that restic still runs"
        elif process_exists(lock.pid):
            advice = "that process is still running on this host: wait for it"
        else:
            limit = policy.stale_after_seconds
            advice = (
                f"that process is gone; dr removes the lock once it is older than {limit}s "
                "(lock_stale_after)"
            )
        lines.append(f"{lock.describe(now)}: {advice}")
    return " ".join(lines)
