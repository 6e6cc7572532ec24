"""`info --output=json`: a stanza's base backups and WAL archive, per repository.

The JSON is a list with one object per stanza. Each backup carries the repository it
lives in (`database.repo-key`), its type and label, start and stop times (Unix seconds),
sizes (`info.size`: the database; `info.repository.size`: what it takes in the
repository, compressed, `delta` the part this backup added), the WAL range it needs
(`archive.start/stop`), and its annotations. `archive` gives, per repository, the
oldest and newest WAL segment held. `info` exits 0 even when a repository cannot be
read: the per-repository `status` says so (errors.repository_problem).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class BaseBackup:
    label: str
    type: str  # full, diff or incr
    repository: int
    start: datetime
    stop: datetime
    database_size: int
    database_delta: int
    repository_size: int
    repository_delta: int
    wal_start: str | None
    wal_stop: str | None
    lsn_start: str | None
    lsn_stop: str | None
    prior: str | None
    references: tuple[str, ...] = ()
    # pgBackRest found a page checksum error while copying (the backup is still usable).
    page_errors: bool = False
    annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "type": self.type,
            "repository": self.repository,
            "start": self.start.isoformat(),
            "stop": self.stop.isoformat(),
            "database_bytes": self.database_size,
            "repository_bytes": self.repository_size,
            "repository_added_bytes": self.repository_delta,
            "wal_start": self.wal_start,
            "wal_stop": self.wal_stop,
            "lsn_start": self.lsn_start,
            "lsn_stop": self.lsn_stop,
            "prior": self.prior,
            "page_errors": self.page_errors,
            "annotations": dict(self.annotations),
        }


@dataclass(frozen=True)
class WalArchive:
    repository: int
    archive_id: str  # PostgreSQL version and the stanza's database id, e.g. "15-1"
    oldest: str | None
    newest: str | None


@dataclass(frozen=True)
class RepositoryStatus:
    repository: int
    code: int  # 0 ok, 1 missing stanza path, 2 no valid backups, 3 missing stanza data, 99
    message: str
    cipher: str


@dataclass(frozen=True)
class StanzaInfo:
    name: str
    status_code: int
    status_message: str
    backup_running: bool
    cipher: str
    repositories: tuple[RepositoryStatus, ...]
    backups: tuple[BaseBackup, ...]
    archives: tuple[WalArchive, ...]

    def backups_in(self, repository: int) -> list[BaseBackup]:
        """Oldest first, as pgBackRest lists them."""
        return [b for b in self.backups if b.repository == repository]

    def archive_in(self, repository: int) -> WalArchive | None:
        """The current archive (the newest database id) of `repository`."""
        found = [a for a in self.archives if a.repository == repository]
        return found[-1] if found else None

    def annotated(self, key: str, value: str) -> list[BaseBackup]:
        return [b for b in self.backups if b.annotations.get(key) == value]


def build_info(repository: int | None = None) -> list[str]:
    args = ["info", "--output=json"]
    return [*args, f"--repo={repository}"] if repository is not None else args


def parse_info(output: str, stanza: str) -> StanzaInfo:
    # strict=False: a status message may quote what a wrong cipher pass decrypted a file
    # into, control characters and all, which pgBackRest does not escape.
    data = json.loads(output or "[]", strict=False)
    found = [item for item in data if item.get("name") == stanza]
    if not found:
        raise ValueError(f"pgBackRest's info lists no stanza {stanza!r}")
    item = found[0]
    status = item.get("status") or {}
    lock = (status.get("lock") or {}).get("backup") or {}
    return StanzaInfo(
        name=stanza,
        status_code=int(status.get("code", 99)),
        status_message=str(status.get("message", "")),
        backup_running=bool(lock.get("held", False)),
        cipher=str(item.get("cipher", "none")),
        repositories=tuple(_repository(r) for r in item.get("repo") or ()),
        backups=tuple(_backup(b) for b in item.get("backup") or ()),
        archives=tuple(_archive(a) for a in item.get("archive") or ()),
    )


def _repository(item: dict[str, Any]) -> RepositoryStatus:
    status = item.get("status") or {}
    return RepositoryStatus(
        repository=int(item["key"]),
        code=int(status.get("code", 99)),
        message=str(status.get("message", "")),
        cipher=str(item.get("cipher", "none")),
    )


def _backup(item: dict[str, Any]) -> BaseBackup:
    info = item.get("info") or {}
    stored = info.get("repository") or {}
    wal = item.get("archive") or {}
    lsn = item.get("lsn") or {}
    times = item["timestamp"]
    return BaseBackup(
        label=str(item["label"]),
        type=str(item["type"]),
        repository=int(item["database"]["repo-key"]),
        start=_time(times["start"]),
        stop=_time(times["stop"]),
        database_size=int(info.get("size", 0)),
        database_delta=int(info.get("delta", 0)),
        repository_size=int(stored.get("size", 0)),
        repository_delta=int(stored.get("delta", 0)),
        wal_start=wal.get("start"),
        wal_stop=wal.get("stop"),
        lsn_start=lsn.get("start"),
        lsn_stop=lsn.get("stop"),
        prior=item.get("prior"),
        references=tuple(item.get("reference") or ()),
        page_errors=bool(item.get("error", False)),
        annotations={str(k): str(v) for k, v in (item.get("annotation") or {}).items()},
    )


def _archive(item: dict[str, Any]) -> WalArchive:
    return WalArchive(
        repository=int(item["database"]["repo-key"]),
        archive_id=str(item["id"]),
        oldest=item.get("min"),
        newest=item.get("max"),
    )


def _time(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
