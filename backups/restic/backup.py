"""`restic backup --json`: build the command; parse its status, error and summary lines.

restic 0.14's lines differ from 0.17's in ways that matter here: the summary's
`snapshot_id` is the short id, `backup_start`/`backup_end` are missing, and an error's
`error` is Go's raw PathError (`{"Op": "open", "Path": ..., "Err": 13}`) where 0.17 has
`{"message": ...}`. Both shapes are read.

A backup of paths runs with `-v`: restic then names every file and directory as it
stores it (`verbose_status`), which is how the manifest knows exactly what the snapshot
holds (see `backups.snapshot_files`). It costs one line per file and no second pass. It
also adds one `status` line with `action: scan_finished`, which is not progress.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class BackupStatus:
    """A progress line (`message_type: status`)."""

    percent_done: float
    files_done: int
    total_files: int
    bytes_done: int
    total_bytes: int
    seconds_elapsed: int
    seconds_remaining: int | None
    error_count: int
    current_files: tuple[str, ...]


@dataclass(frozen=True)
class BackupFileError:
    """A source item restic could not read (`message_type: error`)."""

    item: str
    during: str
    message: str
    # It no longer existed when restic came to it (ENOENT): removed or renamed while
    # the backup ran, so it is not in the snapshot, and no file failed to be read.
    vanished: bool = False


@dataclass(frozen=True)
class StoredItem:
    """A file or directory restic stored in the snapshot (`verbose_status`, with -v).

    `path` is the item's path in the snapshot (for the absolute paths backup sets have,
    its path on disk). restic 0.14 names regular files and directories only; a
    directory's path ends in "/". The line's `data_size` counts only bytes new to the
    repository (0 for a file whose chunks were already stored), so it says nothing
    about the file's size."""

    path: str
    action: str  # new | modified | unchanged
    is_dir: bool


@dataclass(frozen=True)
class BackupSummary:
    """The last line of a backup that made a snapshot (`message_type: summary`)."""

    snapshot_id: str
    files_new: int
    files_changed: int
    files_unmodified: int
    total_files_processed: int
    total_bytes_processed: int
    data_added: int
    total_duration: float

    @property
    def files(self) -> int:
        return self.total_files_processed


@dataclass
class BackupOutput:
    """Everything one backup printed, gathered as its lines arrive."""

    summary: BackupSummary | None = None
    errors: list[BackupFileError] = field(default_factory=list)
    last_status: BackupStatus | None = None

    def take(self, message: dict[str, Any]) -> BackupStatus | None:
        """Record one JSON line; return it as a BackupStatus if it is a progress line."""
        kind = message.get("message_type")
        if is_progress(message):
            self.last_status = parse_status(message)
            return self.last_status
        if kind == "summary":
            self.summary = parse_summary(message)
        elif kind == "error":
            self.errors.append(parse_error(message))
        return None

    def errors_all_named(self) -> bool:
        """Whether every file error restic counted is among the error lines we have:
        restic prints them on stderr, of which only the tail is kept."""
        counted = self.last_status.error_count if self.last_status is not None else 0
        return sum(1 for e in self.errors if e.during != "scan") >= counted


def build_backup(
    *,
    paths: list[str] | None = None,
    stdin_filename: str | None = None,
    tags: list[str],
    host: str,
    time: datetime | None = None,
) -> list[str]:
    """Back up `paths`, or stdin stored as `stdin_filename` (exactly one of them)."""
    if (paths is None) == (stdin_filename is None):
        raise ValueError("give either paths or stdin_filename")
    args = ["backup", "--json", "--host", host]
    if paths is not None:
        args.append("-v")  # name each stored file (see the module's docstring)
    for tag in tags:
        args += ["--tag", tag]
    if time is not None:
        args += ["--time", time.strftime("%Y-%m-%d %H:%M:%S")]
    if stdin_filename is not None:
        return [*args, "--stdin", "--stdin-filename", stdin_filename]
    # "--" so that a path starting with "-" is never read as an option.
    return [*args, "--", *(paths or [])]


def is_progress(message: dict[str, Any]) -> bool:
    """A progress line; not the `scan_finished` line that -v adds with the same type."""
    return message.get("message_type") == "status" and "action" not in message


def parse_stored_item(message: dict[str, Any]) -> StoredItem | None:
    """The item of a `verbose_status` line; None for any other line."""
    if message.get("message_type") != "verbose_status":
        return None
    item = str(message.get("item", ""))
    return StoredItem(path=item, action=str(message.get("action", "")), is_dir=item.endswith("/"))


def parse_status(message: dict[str, Any]) -> BackupStatus:
    return BackupStatus(
        percent_done=float(message.get("percent_done", 0.0)),
        files_done=int(message.get("files_done", 0)),
        total_files=int(message.get("total_files", 0)),
        bytes_done=int(message.get("bytes_done", 0)),
        total_bytes=int(message.get("total_bytes", 0)),
        seconds_elapsed=int(message.get("seconds_elapsed", 0)),
        seconds_remaining=(
            int(message["seconds_remaining"]) if "seconds_remaining" in message else None
        ),
        error_count=int(message.get("error_count", 0)),
        current_files=tuple(message.get("current_files") or ()),
    )


def parse_summary(message: dict[str, Any]) -> BackupSummary:
    # Fields that are zero may be omitted, per restic's documentation.
    return BackupSummary(
        snapshot_id=str(message.get("snapshot_id", "")),
        files_new=int(message.get("files_new", 0)),
        files_changed=int(message.get("files_changed", 0)),
        files_unmodified=int(message.get("files_unmodified", 0)),
        total_files_processed=int(message.get("total_files_processed", 0)),
        total_bytes_processed=int(message.get("total_bytes_processed", 0)),
        data_added=int(message.get("data_added", 0)),
        total_duration=float(message.get("total_duration", 0.0)),
    )


def parse_error(message: dict[str, Any]) -> BackupFileError:
    error = message.get("error")
    item = str(message.get("item", ""))
    if _says_nothing(error):
        # restic 0.14 marshals some errors as an empty object (a wrapped error has no
        # exported fields): seen for a temporary file renamed into place while restic
        # read the directory. Read as the error arrives: an absolute path that no longer
        # exists was removed or renamed, as an ENOENT says; one that exists was not read.
        gone = os.path.isabs(item) and not os.path.lexists(item)
        said = (
            "restic gave no reason; the file no longer exists"
            if gone
            else ("restic gave no reason; the file exists but is not in the snapshot")
        )
        return BackupFileError(item, str(message.get("during", "")), said, vanished=gone)
    return BackupFileError(
        item=item,
        during=str(message.get("during", "")),
        message=_error_text(error),
        vanished=_is_missing(error),
    )


def _says_nothing(error: Any) -> bool:
    """An error object with none of the fields restic's errors carry (or none at all)."""
    if error is None:
        return True
    return isinstance(error, dict) and not ({"message", "Op", "Path", "Err"} & error.keys())


def _is_missing(error: Any) -> bool:
    if isinstance(error, dict) and "Err" in error:
        return error["Err"] == errno.ENOENT
    # Later versions: Go's own text of the same error.
    return _error_text(error).endswith("no such file or directory")


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        if "message" in error:
            return str(error["message"])
        # Go's *PathError marshalled field by field (restic 0.14).
        op, path, code = error.get("Op"), error.get("Path"), error.get("Err")
        reason = os.strerror(code) if isinstance(code, int) else str(code)
        if isinstance(code, int) and code in errno.errorcode:
            reason = f"{reason} ({errno.errorcode[code]})"
        return f"{op} {path}: {reason}" if op or path else reason
    return str(error)


def parse_stderr_errors(stderr: str) -> list[BackupFileError]:
    """The per-file error objects, which restic prints on stderr, not stdout."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("message_type") == "error":
            found.append(parse_error(message))
    return found
