"""The result of `dr backup run`: what the journal records and `--json` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.errors import EXIT_FAILED, EXIT_OK

OK, PARTIAL, FAILED = "ok", "partial", "failed"


@dataclass
class BackupResult:
    run_id: str
    backup_set: str
    repository: str
    started_at: str
    status: str = OK
    finished_at: str | None = None
    duration_seconds: float = 0.0
    snapshots: dict[str, str] = field(default_factory=dict)  # part -> snapshot id
    files: int = 0
    bytes: int = 0
    data_added: int = 0
    # Of the manifest's file hashes: how many were taken from the previous run because
    # the file provably did not change (backups.hash_cache); the rest were read.
    hashes_reused: int = 0
    unreadable: list[str] = field(default_factory=list)
    databases: list[dict[str, Any]] = field(default_factory=list)
    copy: dict[str, Any] | None = None
    hooks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The data point a later loss could fall back to; only a fully good run sets it, so
    # a partial or failed run never resets the RPO clock.
    rpo_point: str | None = None
    restic_version: str | None = None

    def fail(self, message: str) -> None:
        self.status = FAILED
        self.errors.append(message)

    def mark_partial(self) -> None:
        if self.status == OK:
            self.status = PARTIAL

    @property
    def succeeded(self) -> bool:
        copy_ok = self.copy is None or self.copy.get("status") == OK
        hooks_ok = all(h.get("exit_code") == 0 for h in self.hooks)
        return self.status == OK and copy_ok and hooks_ok

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.succeeded else EXIT_FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
