"""The console's sessions as identity records: which contact a session is, and how they
signed in. The table lives here, beside the one-time codes, because the engine reads it
too: an approval given on the console names its session (`console:<public id>`), and the
engine re-checks that such a session exists, is that contact's, and began with a sign-in
code that contact redeemed. Rows are kept after they expire (they hold only hashes), so
an approval can be re-checked when a run is resumed later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, String, Table, select

if TYPE_CHECKING:
    from orchestrator.journal import Journal

# The purpose of the one-time codes that sign a person in to the console.
SIGN_IN_PURPOSE = "console-sign-in"

_metadata = MetaData()
console_sessions = Table(
    "console_sessions",
    _metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("public_id", String(16), nullable=False),
    Column("contact", String(200), nullable=False),
    Column("role", String(200), nullable=False),
    Column("signed_in_by", String(200), nullable=False),
    # "RUN_ID/STEP" for a session opened by a one-time approval link: that page only.
    Column("scope", String(500), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

_created: set[int] = set()


def ensure_table(journal: Journal) -> None:
    # Once per database per process: every console request looks its session up.
    engine = journal.engine
    if id(engine) not in _created:
        _metadata.create_all(engine, checkfirst=True)
        _created.add(id(engine))


def sign_in_of(journal: Journal, public_id: str) -> tuple[str, str] | None:
    """(contact, how they signed in) of the console session `public_id`, or None."""
    ensure_table(journal)
    cols = console_sessions.c
    with journal.engine.connect() as conn:
        row = conn.execute(
            select(cols.contact, cols.signed_in_by).where(cols.public_id == public_id)
        ).first()
    return None if row is None else (row.contact, row.signed_in_by)
