"""The restore test's proof by acknowledged writes: every write acknowledged before the
moment is in the restored copy, and none written after it.

Where the acknowledged writes are known is pluggable (`AcknowledgedWrites`): in
production a table of the live database whose rows are the writes themselves (an id
and the time it was written: `restore_test.writes_table`), in the drill lab the load
generator's own record. The copy is always looked up by id in the same table.

A row's time is taken before its commit, so a write within `in_flight` before the
moment may or may not be in the copy: it is counted, not judged. A row written after
the moment committed after it, so the copy must hold none: that is checked in the copy
itself (no row with a time after the moment). Writes older than the base backup the copy
was made from are compared by count only (the base backup holds them; pgBackRest
checks its files: the copy must hold at least as many); those written since, which the
copy owes to WAL replay, by id.
The table must only grow (a ledger of writes): a row deleted later in the live table
would be reported missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from psycopg2 import sql
from psycopg2.extensions import connection as PgConnection

from orchestrator.postgresql.errors import PostgresError

_BATCH = 10_000
_SHOWN = 20


class AcknowledgedWrites(Protocol):
    """Where the writes the business was told succeeded are known, with their times."""

    def describe(self) -> str: ...

    def ids_between(self, since: datetime | None, until: datetime | None) -> set[str]:
        """Ids of the writes with since < time <= until (None: unbounded)."""
        ...

    def count_between(self, since: datetime | None, until: datetime | None) -> int: ...


@dataclass(frozen=True)
class WritesTable:
    """A table of acknowledged writes, one row each: an id and the time it was written."""

    table: str  # NAME or SCHEMA.NAME
    id_column: str
    time_column: str

    def identifier(self) -> sql.Composable:
        return sql.SQL(".").join(sql.Identifier(part) for part in self.table.split("."))

    def where(
        self, since: datetime | None, until: datetime | None
    ) -> tuple[sql.Composable, list[Any]]:
        time = sql.Identifier(self.time_column)
        clauses, values = [], []
        if since is not None:
            clauses.append(sql.SQL("{} > %s").format(time))
            values.append(since)
        if until is not None:
            clauses.append(sql.SQL("{} <= %s").format(time))
            values.append(until)
        condition = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("true")
        return condition, values


class LiveTable:
    """The writes table of the live database: its rows are the acknowledged writes."""

    def __init__(self, conn: PgConnection, table: WritesTable, where: str) -> None:
        self.conn = conn
        self.table = table
        self.where = where

    def describe(self) -> str:
        return f"table {self.table.table} of the live database ({self.where})"

    def ids_between(self, since: datetime | None, until: datetime | None) -> set[str]:
        condition, values = self.table.where(since, until)
        statement = sql.SQL("SELECT {}::text FROM {} WHERE {}").format(
            sql.Identifier(self.table.id_column), self.table.identifier(), condition
        )
        return set(_column(self.conn, statement, values))

    def count_between(self, since: datetime | None, until: datetime | None) -> int:
        return _count(self.conn, self.table, since, until)


@dataclass
class WritesCheck:
    """What the check found; `problems` empty when the copy holds exactly what it owes."""

    source: str
    point: str
    since: str | None
    older: dict[str, int] = field(default_factory=dict)  # expected, found
    before: int = 0  # writes since the base backup, up to the moment, looked up by id
    missing: int = 0
    missing_ids: list[str] = field(default_factory=list)  # the first few
    in_flight: dict[str, int] = field(default_factory=dict)  # present, absent
    after: int = 0  # writes after the moment, per the source
    after_present: int = 0  # rows of the copy written after the moment
    after_ids: list[str] = field(default_factory=list)
    rows_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_writes(
    source: AcknowledgedWrites,
    copy: PgConnection,
    table: WritesTable,
    point: datetime,
    *,
    since: datetime | None,
    in_flight_seconds: int,
) -> WritesCheck:
    """`since`: the start of the base backup the copy was restored from."""
    settled = point - timedelta(seconds=in_flight_seconds)
    found = WritesCheck(
        source.describe(), point.isoformat(), None if since is None else since.isoformat()
    )
    if since is not None:
        expected = source.count_between(None, since)
        present = _count(copy, table, None, since)
        found.older = {"expected": expected, "found": present}
        # At least: a row's own time comes before its acknowledgement, so a source that
        # records acknowledgements (the load generator) counts a few fewer by `since`.
        if present < expected:
            found.problems.append(
                f"{expected} writes older than the base backup ({since.isoformat()}) are "
                f"acknowledged, the copy holds only {present}"
            )
    owed = source.ids_between(since, settled)
    held = _present(copy, table, owed)
    missing = sorted(owed - held)
    found.before, found.missing, found.missing_ids = len(owed), len(missing), missing[:_SHOWN]
    if missing:
        found.problems.append(
            f"{len(missing)} of {len(owed)} writes acknowledged before {settled.isoformat()} "
            f"are not in the copy (first ids: {', '.join(missing[:_SHOWN])})"
        )
    flying = source.ids_between(settled, point)
    landed = len(_present(copy, table, flying))
    found.in_flight = {"present": landed, "absent": len(flying) - landed}
    found.after = source.count_between(point, None)
    condition, values = table.where(point, None)
    late = _column(
        copy,
        sql.SQL("SELECT {}::text FROM {} WHERE {} LIMIT {}").format(
            sql.Identifier(table.id_column), table.identifier(), condition, sql.Literal(_SHOWN)
        ),
        values,
    )
    found.after_present = _count(copy, table, point, None) if late else 0
    found.after_ids = late
    if late:
        found.problems.append(
            f"the copy holds {found.after_present} rows written after the moment (first "
            f"ids: {', '.join(late)}): replay went past {point.isoformat()}"
        )
    found.rows_checked = found.older.get("expected", 0) + len(owed) + len(flying) + found.after
    return found


def _present(conn: PgConnection, table: WritesTable, ids: set[str]) -> set[str]:
    """Which of `ids` the table holds, looked up in batches by the id column's own type
    (so that its index serves the lookup)."""
    if not ids:
        return set()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = %s",
            (table.table, table.id_column),
        )
        row = cursor.fetchone()
    if row is None:
        raise PostgresError(f"the table {table.table} has no column {table.id_column}")
    statement = sql.SQL("SELECT {0}::text FROM {1} WHERE {0} = ANY(%s::{2}[])").format(
        sql.Identifier(table.id_column), table.identifier(), sql.SQL(row[0])
    )
    held: set[str] = set()
    for batch in _batches(sorted(ids)):
        held.update(_column(conn, statement, [batch]))
    return held


def _count(
    conn: PgConnection, table: WritesTable, since: datetime | None, until: datetime | None
) -> int:
    condition, values = table.where(since, until)
    statement = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table.identifier(), condition)
    with conn.cursor() as cursor:
        cursor.execute(statement, values)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _column(conn: PgConnection, statement: sql.Composable, values: list[Any]) -> list[str]:
    with conn.cursor() as cursor:
        cursor.execute(statement, values)
        return [str(row[0]) for row in cursor.fetchall()]


def _batches(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]
