"""On PostgreSQL, events that nobody changes: grants for the writer, a trigger for the owner.

The writer role (the one `dr` connects as) may SELECT and INSERT events, never UPDATE,
DELETE or TRUNCATE them; it keeps what it needs on the other tables (the projections and
the chain head are updated in place). A trigger refuses UPDATE and DELETE (and a
statement trigger TRUNCATE) on `events` for every role, the owner included. A superuser
can still drop the trigger: that is what the anchors outside the database are for.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.errors import JournalError, UserInputError
from orchestrator.journal.store import Journal

_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_FUNCTION = """
CREATE OR REPLACE FUNCTION dr_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'dr journal: events are append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$
"""
_TRIGGERS = (
    "DROP TRIGGER IF EXISTS dr_events_no_change ON events",
    "CREATE TRIGGER dr_events_no_change BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION dr_events_append_only()",
    "DROP TRIGGER IF EXISTS dr_events_no_truncate ON events",
    "CREATE TRIGGER dr_events_no_truncate BEFORE TRUNCATE ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION dr_events_append_only()",
)


def protect_events(journal: Journal, writer: str) -> list[str]:
    """Install the trigger and the writer's grants; returns what was done, line by line."""
    if journal.engine.dialect.name != "postgresql":
        raise UserInputError(
            "setup-postgres is for a PostgreSQL journal (--db / DR_DB); a SQLite file is "
            "protected by its file permissions and the anchors"
        )
    if not _ROLE.match(writer):
        raise UserInputError(f"--writer {writer!r}: not a plain PostgreSQL role name")
    done = []
    try:
        with journal.engine.begin() as conn:
            conn.execute(text(_FUNCTION))
            for statement in _TRIGGERS:
                conn.execute(text(statement))
            done.append("trigger dr_events_no_change / dr_events_no_truncate on events")
            tables = _other_tables(conn)
            conn.execute(text(f'REVOKE ALL ON events FROM "{writer}"'))
            conn.execute(text(f'GRANT SELECT, INSERT ON events TO "{writer}"'))
            done.append(f"{writer}: SELECT, INSERT on events (no UPDATE, DELETE, TRUNCATE)")
            for table in tables:
                conn.execute(
                    text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{writer}"')
                )
            sequences = conn.execute(
                text("SELECT sequence_name FROM information_schema.sequences "
                     "WHERE sequence_schema = current_schema()")
            ).scalars().all()  # fmt: skip
            for sequence in sequences:
                conn.execute(text(f'GRANT USAGE, SELECT ON SEQUENCE "{sequence}" TO "{writer}"'))
            # The projections stay writable: the reports check each row against its event.
            done.append(f"{writer}: SELECT, INSERT, UPDATE, DELETE on {', '.join(tables)}")
    except SQLAlchemyError as err:
        raise JournalError(
            f"could not protect the events table: {str(err).strip().splitlines()[0]}. Run "
            "this as the owner of the journal's tables, with the writer role existing."
        ) from err
    done.append(
        "note: a superuser can still drop the trigger; the anchors outside the database "
        "catch what that would hide / 注意：超级用户仍可删除触发器，库外锚点用于发现此类篡改"
    )
    return done


def _other_tables(conn: Any) -> list[str]:
    """Every table of the journal's schema but `events` (the scheduler's, the tokens')."""
    from sqlalchemy import inspect

    return sorted(n for n in inspect(conn).get_table_names() if n != "events")
