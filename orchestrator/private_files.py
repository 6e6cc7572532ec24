"""Files and directories `dr` makes for itself: owner-only, and written atomically.

The journal, the state directory, reports, exports and caches describe a bank's
systems (and a restore test's output holds production data): nobody but the account
that runs `dr` should read them, whatever the umask, outside systemd as well as in it.
A report or cache is written to a temporary file beside its place, flushed to disk,
then renamed over it, so a reader never sees half of one, and a crash leaves the old
one whole.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Make `path` (and missing parents) if needed; the directories made here are 0700.
    An existing directory is left as it is: it may be shared on purpose."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIRECTORY_MODE)
            directory.chmod(DIRECTORY_MODE)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        # What mkdir would say: a file stands where the directory should be.
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    return path


def create_private(path: Path) -> None:
    """Create an empty 0600 file at `path` unless one is there (so that a program that
    then opens it, SQLite say, keeps these permissions)."""
    private_directory(path.parent)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        os.close(fd)


def write_atomically(path: Path, content: str | bytes, *, mode: int = FILE_MODE) -> None:
    """Replace `path` with `content`: a temporary file beside it, fsync, rename, and
    fsync of the directory (so the rename itself survives a power cut)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    directory = path.parent
    private_directory(directory)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    sync_directory(directory)


def sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
