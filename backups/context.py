"""What every backup action needs: the set, its repositories opened lazily, the masker,
the journal and a progress sink. Built once per command by the CLI (or a scheduler)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backups.execute import Masker
from backups.locks import LockPolicy
from backups.repository import repository_of
from backups.restic.backup import BackupStatus
from backups.session import RepositorySession
from orchestrator.inventory import BackupSet, Inventory

if TYPE_CHECKING:
    # Importing the journal loads SQLAlchemy, which is slow: `dr backup run` does it only
    # once restic is already running (see `journal_opener`; bench/backup_vs_restic.py).
    from orchestrator.journal import Journal

ProgressSink = Callable[[str, BackupStatus], None]
_HeldEvent = tuple[str, dict[str, Any], str | None]


@dataclass
class BackupContext:
    inventory: Inventory
    backup_set: BackupSet
    journal: Journal | None = None
    progress: ProgressSink | None = None
    masker: Masker = field(default_factory=Masker)
    # Opens the journal the first time it is needed, when `journal` is not given. The
    # CLI passes one, so that `dr backup run` can start restic before SQLAlchemy loads.
    journal_opener: Callable[[], Journal] | None = None
    _sessions: dict[str, RepositorySession] = field(default_factory=dict)
    # Events recorded while the journal is held back (`journal_held`), in order.
    _held: list[_HeldEvent] | None = None
    _journal_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_set(
        cls,
        inventory: Inventory,
        name: str,
        *,
        journal: Journal | None = None,
        journal_opener: Callable[[], Journal] | None = None,
        progress: ProgressSink | None = None,
    ) -> BackupContext:
        return cls(
            inventory, inventory.backup_set(name), journal=journal,
            journal_opener=journal_opener, progress=progress,
        )  # fmt: skip

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
        safe = self.masker.data(data)
        with self._journal_lock:
            if self._held is not None:
                self._held.append((kind, safe, run_id))
                return
        self._append(kind, safe, run_id)

    def opened_journal(self) -> Journal | None:
        """The journal, opened now if it is still only an opener; None if there is none."""
        with self._journal_lock:
            if self.journal is None and self.journal_opener is not None:
                opener, self.journal_opener = self.journal_opener, None
                self.journal = opener()
            return self.journal

    @contextmanager
    def journal_held(self) -> Iterator[None]:
        """Keep events in memory, in order, until `release_journal()` (or the end of the
        block) opens the journal and writes them. What is recorded in between is written
        a fraction of a second later, with the same content and order."""
        with self._journal_lock:
            self._held = []
        try:
            yield
        finally:
            self.release_journal()

    def release_journal(self) -> None:
        """Open the journal and write the held events; later events go straight in.
        Raises the journal's error if it cannot be opened (then nothing is written)."""
        with self._journal_lock:
            held, self._held = self._held, None
        if held is None:
            return
        for kind, data, run_id in held:
            self._append(kind, data, run_id)

    def _append(self, kind: str, data: dict[str, Any], run_id: str | None) -> None:
        journal = self.opened_journal()
        if journal is not None:
            journal.append(kind, run_id=run_id, data={"backup_set": self.backup_set.name, **data})
