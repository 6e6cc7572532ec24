"""What every backup action needs: the set, its repositories opened lazily, the masker,
the journal and a progress sink. Built once per command by the CLI (or a scheduler)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backups.execute import Masker
from backups.locks import LockPolicy
from backups.repository import repository_of
from backups.restic.backup import BackupStatus
from backups.session import RepositorySession
from orchestrator.inventory.models import BackupSet, Inventory
from orchestrator.journal import Journal

ProgressSink = Callable[[str, BackupStatus], None]


@dataclass
class BackupContext:
    inventory: Inventory
    backup_set: BackupSet
    journal: Journal | None = None
    progress: ProgressSink | None = None
    masker: Masker = field(default_factory=Masker)
    _sessions: dict[str, RepositorySession] = field(default_factory=dict)

    @classmethod
    def for_set(
        cls,
        inventory: Inventory,
        name: str,
        *,
        journal: Journal | None = None,
        progress: ProgressSink | None = None,
    ) -> BackupContext:
        return cls(inventory, inventory.backup_set(name), journal=journal, progress=progress)

    @property
    def lock_policy(self) -> LockPolicy:
        return LockPolicy(
            wait_seconds=self.backup_set.lock_wait,
            stale_after_seconds=self.backup_set.lock_stale_after,
        )

    def session(self) -> RepositorySession:
        """The set's main repository."""
        return self._open("main", self.backup_set.main_repository)

    def copy_session(self) -> RepositorySession | None:
        """The copy_to repository, if the set has one."""
        target = self.backup_set.copy_to
        return None if target is None else self._open("copy", target)

    def _open(self, key: str, target: Any) -> RepositorySession:
        if key not in self._sessions:
            self._sessions[key] = RepositorySession.open(
                repository_of(target), self.masker, lock_policy=self.lock_policy,
                on_event=self.record, timeout=self.backup_set.timeouts.restic,
            )  # fmt: skip
        return self._sessions[key]

    def record(self, kind: str, data: dict[str, Any], *, run_id: str | None = None) -> None:
        """Append a journal event. Masked once more on the way in: whatever reached the
        data, no secret value we know of is written."""
        if self.journal is None:
            return
        safe = json.loads(self.masker(json.dumps(data, default=str)))
        self.journal.append(kind, run_id=run_id, data={"backup_set": self.backup_set.name, **safe})
