"""Where the journal lives when the operator names no database, and how a named one's
password stays off the command line.

`--db` and DR_DB take a URL, or a secret reference to one (`env:NAME`, `file:PATH`):
a URL with a password written on the command line is readable by every user of the
machine (`ps`, /proc/PID/cmdline), so it is accepted with a warning only.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from orchestrator.errors import UserInputError
from orchestrator.inventory.secrets import SecretRef, resolve_secret

_REFERENCES = ("env:", "file:")


def default_journal_path() -> Path:
    """Per-user SQLite file: $XDG_STATE_HOME/dr/journal.sqlite3 (~/.local/state/dr/...)."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "dr" / "journal.sqlite3"


def default_journal_url() -> str:
    return f"sqlite:///{default_journal_path()}"


def resolve_journal_url(explicit: str | None) -> str:
    """--db beats DR_DB beats the per-user default; a reference is read now."""
    value = explicit or os.environ.get("DR_DB") or default_journal_url()
    if not value.startswith(_REFERENCES):
        return value
    try:
        ref = SecretRef.parse(value)
    except ValueError as err:
        raise UserInputError(f"--db / DR_DB: {err}") from None
    return resolve_secret(ref).strip()


def password_on_command_line(explicit: str | None) -> str | None:
    """A warning when `--db` itself (not a reference, not DR_DB) carries a password."""
    if explicit is None or explicit.startswith(_REFERENCES):
        return None
    try:
        password = make_url(explicit).password
    except ArgumentError:
        return None
    if not password:
        return None
    return (
        "--db holds a password, which every user of this machine can read in the process "
        "list; give --db env:NAME or file:PATH (a reference to the URL), or set DR_DB"
    )
