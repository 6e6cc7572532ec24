"""The files pgBackRest needs on this machine: its configuration, written whole or not at
all and readable by its account only, and the directories it works in.

pgBackRest runs as PostgreSQL's account (archive_command does), so what it reads or
writes belongs to that account: the configuration (0600), the spool, log and lock
directories, and a posix repository. A directory that already exists is left as it is:
its owner chose its permissions (Debian's package makes /var/spool/pgbackrest and
/var/log/pgbackrest for postgres already).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
from pathlib import Path

from orchestrator.errors import BackupError


def account(name: str) -> pwd.struct_passwd:
    """The account pgBackRest runs as: `name` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise BackupError(
            f"the account {name!r} (the backup set's os_user) does not exist on this "
            "machine; it is PostgreSQL's account, created by Debian's postgresql package"
        ) from None


def write_private(path: Path, text: str, owner: pwd.struct_passwd) -> bool:
    """Make `path` hold `text`, 0600 and owned by `owner`; atomically (a reader sees the
    old file or the new one, never half of one). False if it held `text` already."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text and _private_to(path, owner):
            return False
    _directory(path.parent, mode=0o755, owner=None)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if os.geteuid() == 0:
                os.fchown(fd, owner.pw_uid, owner.pw_gid)
            handle.write(text)
            handle.flush()
            os.fsync(fd)
        os.replace(temporary, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise BackupError(
            f"cannot write pgBackRest's configuration {path}: {err.strerror}; run as root "
            "or as the account that owns that directory"
        ) from None
    return True


def working_directory(path: Path, owner: pwd.struct_passwd) -> None:
    """A directory pgBackRest writes in: made for `owner` (0750) if it is missing."""
    _directory(path, mode=0o750, owner=owner)


def _directory(path: Path, *, mode: int, owner: pwd.struct_passwd | None) -> None:
    if path.is_dir():
        return
    missing = [p for p in [path, *path.parents] if not p.exists()]
    try:
        path.mkdir(mode=mode, parents=True)
        if owner is not None and os.geteuid() == 0:
            # Only what we just made, never a directory someone else owns.
            for made in missing:
                os.chown(made, owner.pw_uid, owner.pw_gid)
    except OSError as err:
        raise BackupError(f"cannot create {path}: {err.strerror}") from None


def _private_to(path: Path, owner: pwd.struct_passwd) -> bool:
    status = path.stat()
    owned = os.geteuid() != 0 or status.st_uid == owner.pw_uid
    return owned and status.st_mode & 0o077 == 0
