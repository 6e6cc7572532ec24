"""`restic backup --json`: build the command; parse its status, error and summary lines.

restic 0.14's lines differ from 0.17's in ways that matter here: the summary's
`snapshot_id` is the short id, `backup_start`/`backup_end` are missing, and an error's
`error` is Go's raw PathError (`{"Op": "open", "Path": ..., "Err": 13}`) where 0.17 has
`{"message": ...}`. Both shapes are read.
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
        if kind == "status":
            self.last_status = parse_status(message)
            return self.last_status
        if kind == "summary":
            self.summary = parse_summary(message)
        elif kind == "error":
            self.errors.append(parse_error(message))
        return None


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
    for tag in tags:
        args += ["--tag", tag]
    if time is not None:
        args += ["--time", time.strftime("%Y-%m-%d %H:%M:%S")]
    if stdin_filename is not None:
        return [*args, "--stdin", "--stdin-filename", stdin_filename]
    # "--" so that a path starting with "-" is never read as an option.
    return [*args, "--", *(paths or [])]


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
    return BackupFileError(
        item=str(message.get("item", "")),
        during=str(message.get("during", "")),
        message=_error_text(error),
    )


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
