"""Options shared by several commands, and the objects they open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.errors import UserInputError
from orchestrator.text import Lang, default_lang

if TYPE_CHECKING:
    # SQLAlchemy, under the journal, is slow to load: `dr backup run` opens the journal
    # only once restic runs (`journal_opener`; bench/backup_vs_restic.py measures it).
    # The engine pulls in paramiko and netmiko; commands that run no runbook (backup,
    # restore-test) should not pay for loading them at every start.
    from orchestrator.engine.discovery import RunbookRegistry
    from orchestrator.inventory import Inventory
    from orchestrator.inventory.secrets import SecretRef
    from orchestrator.journal import Journal

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Journal database URL, or a reference to one (env:NAME, file:PATH) so that "
        "no password shows in the process list (default: DR_DB, else the per-user SQLite "
        "file ~/.local/state/dr/journal.sqlite3).",
        show_default=False,
    ),
]
RunbooksOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--runbooks",
        help="Extra runbook directory (repeatable; also DR_RUNBOOKS).",
        show_default=False,
    ),
]
InventoryOption = Annotated[
    Path, typer.Option("--inventory", "-i", help="Inventory YAML file.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help="Language of operator text: zh or en (default: DR_LANG, then the locale).",
        show_default=False,
    ),
]
OperatorOption = Annotated[
    str | None,
    typer.Option(
        "--operator",
        help="Optional check of who you are: must be your own contact name or login "
        "(dr knows you from your OS account, mapped by contacts[].login; so does "
        "DR_OPERATOR). Naming someone else is refused.",
        show_default=False,
    ),
]
RunbookArg = Annotated[str, typer.Argument(help="Runbook name (see `dr runbook list`).")]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", help="Runbook parameter NAME=VALUE (repeatable).", show_default=False
    ),
]


def open_journal(
    db: str | None, key: SecretRef | None = None, *, must_exist: bool = False
) -> Journal:
    """The journal, with its key when there is one (DR_JOURNAL_KEY, `key` from the
    inventory's `journal.key`, else ~/.config/dr/journal.key: orchestrator/journal/key.py).

    `must_exist`: see `open_existing_journal`."""
    from orchestrator.journal import Journal, resolve_journal_url
    from orchestrator.journal.key import load_key
    from orchestrator.journal.location import password_on_command_line

    warning = password_on_command_line(db)
    if warning is not None:
        from orchestrator.cli.console import error_console

        error_console.print(f"[yellow]warning: {warning}[/]")
    return Journal(resolve_journal_url(db), load_key(key), must_exist=must_exist)


def open_existing_journal(db: str | None, key: SecretRef | None = None) -> Journal:
    """For commands that only read (reports, verify, listings): a journal URL that names
    no journal is refused with exit 2, never created empty (journal/existing.py)."""
    return open_journal(db, key, must_exist=True)


def journal_opener(db: str | None, key: SecretRef | None = None) -> Callable[[], Journal]:
    """Opens the journal when called (see `BackupContext.journal_opener`)."""
    return lambda: open_journal(db, key)


def open_registry(runbooks: list[Path] | None) -> RunbookRegistry:
    from orchestrator.engine.discovery import RunbookRegistry, dirs_from_environment

    return RunbookRegistry.discover([*dirs_from_environment(), *(runbooks or [])])


def operator_name(explicit: str | None, inventory: Inventory | None = None) -> str:
    """The journal's name for the person at this terminal (see cli/acting.py); a name
    given by --operator or DR_OPERATOR is checked against it, never taken on trust."""
    from orchestrator.cli.acting import acting_person
    from orchestrator.identity import shown_name

    return shown_name(acting_person(inventory, explicit, mapped=False))


def language(explicit: str | None) -> Lang:
    if explicit is None:
        return default_lang()
    if explicit not in ("zh", "en"):
        raise UserInputError(f"--lang {explicit!r}: use zh or en")
    return explicit  # type: ignore[return-value]


def parse_params(values: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserInputError(f"--param {item!r}: write it as NAME=VALUE")
        params[name.strip()] = value
    return params
