"""Where the journal lives when the operator names no database."""

from __future__ import annotations

import os
from pathlib import Path


def default_journal_path() -> Path:
    """Per-user SQLite file: $XDG_STATE_HOME/dr/journal.sqlite3 (~/.local/state/dr/...)."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "dr" / "journal.sqlite3"


def default_journal_url() -> str:
    return f"sqlite:///{default_journal_path()}"


def resolve_journal_url(explicit: str | None) -> str:
    """--db beats DR_DB beats the per-user default."""
    return explicit or os.environ.get("DR_DB") or default_journal_url()
