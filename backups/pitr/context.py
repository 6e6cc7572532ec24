"""What every action on a `postgres-pitr` set needs: the set, its stanza opened lazily,
the masker and the journal. Built once per command by the CLI (or a scheduler)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backups.execute import Masker
from backups.pitr.session import StanzaSession
from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory, PitrBackupSet

if TYPE_CHECKING:
    from orchestrator.journal import Journal


@dataclass
class PitrContext:
    inventory: Inventory
    backup_set: PitrBackupSet
    journal: Journal | None = None
    # Opens the journal the first time an event is recorded, when `journal` is not given.
    journal_opener: Callable[[], Journal] | None = None
    masker: Masker = field(default_factory=Masker)
    _session: StanzaSession | None = None

    @classmethod
    def for_set(
        cls,
        inventory: Inventory,
        name: str,
        *,
        journal: Journal | None = None,
        journal_opener: Callable[[], Journal] | None = None,
    ) -> PitrContext:
        found = inventory.any_backup_set(name)
        if not isinstance(found, PitrBackupSet):
            raise UserInputError(f"backup set {name!r} is of kind {found.kind}, not postgres-pitr")
        return cls(inventory, found, journal=journal, journal_opener=journal_opener)

    def session(self) -> StanzaSession:
        if self._session is None:
            self._session = StanzaSession.open(
                self.inventory, self.backup_set, self.masker, on_event=self.record
            )
        return self._session

    def record(self, kind: str, data: dict[str, Any], *, run_id: str | None = None) -> None:
        """Append a journal event, masked once more on the way in."""
        journal = self.opened_journal()
        if journal is None:
            return
        safe = self.masker.data(data)
        journal.append(
            kind,
            run_id=run_id,
            data={"backup_set": self.backup_set.name, "kind": self.backup_set.kind, **safe},
        )

    def opened_journal(self) -> Journal | None:
        if self.journal is None and self.journal_opener is not None:
            opener, self.journal_opener = self.journal_opener, None
            self.journal = opener()
        return self.journal
