"""Opening a journal that must already exist: the read-only commands' open mode.

Opening a journal normally creates it (the first run, the scheduler's first tick). A
report, `dr journal verify` or `dr runs list` given a mistyped URL would then create an
empty journal and report on it ("verification PASSED", no runs): the operator would take
an empty record for a clean one. These checks refuse instead, naming the URL.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.errors import JournalNotFound

# Tables every journal has had since its first version (schema.py): a database without
# them is not a journal, whatever else it holds.
JOURNAL_TABLES = ("events", "chain_head", "runs")

_WHAT_TO_DO = (
    "Give the journal's URL with --db or DR_DB (the default is the per-user file "
    "~/.local/state/dr/journal.sqlite3). Only commands that record (dr run, dr drill, "
    "dr backup, the scheduler) create a journal / 只读命令不会新建日志库，请用 --db 或 "
    "DR_DB 指定已有的日志库。"
)


def shown_url(url: str) -> str:
    """The URL as the operator may see it: any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(an unreadable URL)"


def refuse_missing_sqlite_file(url: str) -> None:
    """A SQLite URL whose file is not there: refused before the driver creates it."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database
    if not database or database == ":memory:":
        raise JournalNotFound(
            f"no journal at {shown_url(url)}: an in-memory database holds no journal. "
            + _WHAT_TO_DO
        )
    if not Path(database).is_file():
        raise JournalNotFound(
            f"no journal at {shown_url(url)}: the file {database} does not exist. " + _WHAT_TO_DO
        )


def refuse_without_journal_tables(engine: Engine, url: str) -> None:
    """A database that opens but holds no journal (an empty file, another database)."""
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
    except SQLAlchemyError:
        return  # unreachable or refused: the ordinary open reports that, with its cause
    missing = [name for name in JOURNAL_TABLES if name not in present]
    if missing:
        engine.dispose()
        raise JournalNotFound(
            f"no journal at {shown_url(url)}: the database has no journal tables "
            f"({', '.join(missing)} missing). " + _WHAT_TO_DO
        )
