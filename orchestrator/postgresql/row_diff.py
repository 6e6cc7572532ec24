"""What differs, row by row, between a restored copy of a database and the live one.

After a bad statement (a `DELETE` without its `WHERE`, ransomware's `UPDATE`) has been
replicated everywhere, a copy restored to just before it holds the rows as they were.
For every table with a primary key this counts, against the live database:

    removed  rows in the copy that the live database no longer has (what was destroyed)
    changed  rows in both whose contents differ (overwritten since)
    added    rows only the live database has (written since; a rollback loses them)

The live side is only read: each table's keys and a hash of each row (`md5(row::text)`,
which both servers compute alike, being the same version restored from the same
cluster) are copied into a temporary table on the copy, and the counting joins run
there, on the scratch server, not on the one the branches use.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
from psycopg2 import sql

# Rows move between the servers through a file that stays in memory up to this size.
SPOOL_BYTES = 64 * 1024 * 1024
STAGED = "dr_live_rows"

_KEYED_TABLES_SQL = """
SELECT n.nspname, c.relname,
       array_agg(a.attname ORDER BY k.ord) AS key_columns,
       array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) AS key_types
FROM pg_constraint p
JOIN pg_class c ON c.oid = p.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE p.contype = 'p' AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%'
GROUP BY n.nspname, c.relname
ORDER BY n.nspname, c.relname
"""

_FOREIGN_KEYS_SQL = """
SELECT cn.nspname || '.' || c.relname, pn.nspname || '.' || pc.relname
FROM pg_constraint f
JOIN pg_class c ON c.oid = f.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class pc ON pc.oid = f.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE f.contype = 'f' AND f.conrelid <> f.confrelid
"""

_UNKEYED_TABLES_SQL = """
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')
ORDER BY 1
"""


@dataclass(frozen=True)
class KeyedTable:
    schema: str
    name: str
    key_columns: tuple[str, ...]
    key_types: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def keys(self, alias: str) -> sql.Composed:
        return sql.SQL(", ").join(sql.Identifier(alias, k) for k in self.key_columns)

    def keys_match(self, left: str, right: str) -> sql.Composed:
        return sql.SQL("({}) = ({})").format(self.keys(left), self.keys(right))


@dataclass(frozen=True)
class TableDifference:
    table: str
    removed: int
    changed: int
    added: int

    @property
    def differs(self) -> bool:
        return bool(self.removed or self.changed or self.added)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "removed": self.removed,
            "changed": self.changed,
            "added": self.added,
        }


@dataclass(frozen=True)
class Comparison:
    tables: list[TableDifference]
    # Tables without a primary key cannot be compared row by row; they are named.
    unkeyed: list[str]

    @property
    def removed(self) -> int:
        return sum(t.removed for t in self.tables)

    @property
    def changed(self) -> int:
        return sum(t.changed for t in self.tables)

    @property
    def added(self) -> int:
        return sum(t.added for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": [t.to_dict() for t in self.tables if t.differs],
            "unchanged_tables": sum(1 for t in self.tables if not t.differs),
            "unkeyed_tables": self.unkeyed,
            "removed": self.removed,
            "changed": self.changed,
            "added": self.added,
        }


@contextmanager
def connect(dsn: str) -> Iterator[Any]:
    conn = psycopg2.connect(dsn, connect_timeout=10, application_name="dr row-diff")
    try:
        yield conn
    finally:
        conn.close()


def keyed_tables(conn: Any, only: list[str] | None = None) -> list[KeyedTable]:
    """The tables with a primary key, parents before children (foreign keys), so that
    rows put back into parents exist before the rows that refer to them."""
    with conn.cursor() as cur:
        cur.execute(_KEYED_TABLES_SQL)
        tables = [KeyedTable(s, n, tuple(k), tuple(t)) for s, n, k, t in cur.fetchall()]
        cur.execute(_FOREIGN_KEYS_SQL)
        parents: dict[str, set[str]] = {}
        for child, parent in cur.fetchall():
            parents.setdefault(child, set()).add(parent)
    if only:
        wanted = {_qualify(name) for name in only}
        tables = [t for t in tables if t.qualified in wanted]
    return _parents_first(tables, parents)


def unkeyed_tables(conn: Any) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(_UNKEYED_TABLES_SQL)
        return [row[0] for row in cur.fetchall()]


def compare(copy_dsn: str, live_dsn: str, only: list[str] | None = None) -> Comparison:
    with connect(copy_dsn) as copy, connect(live_dsn) as live:
        live.set_session(readonly=True)
        tables = keyed_tables(copy, only)
        differences = [_compare_table(copy, live, table) for table in tables]
        return Comparison(differences, [] if only else unkeyed_tables(copy))


def stage_live_rows(copy: Any, live: Any, table: KeyedTable) -> None:
    """`STAGED` on the copy's session: every live row's key and hash, indexed by key."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(t))
        for k, t in zip(table.key_columns, table.key_types, strict=True)
    )
    with copy.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(STAGED)))
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {} ({}, row_hash text)").format(
                sql.Identifier(STAGED), columns
            )
        )
    source = sql.SQL("COPY (SELECT {}, md5(t::text) FROM {} AS t) TO STDOUT").format(
        table.keys("t"), table.identifier
    )
    transfer(live, source, copy, sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(STAGED)))
    with copy.cursor() as cur:
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in table.key_columns)
        cur.execute(sql.SQL("CREATE INDEX ON {} ({})").format(sql.Identifier(STAGED), keys))
        cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(STAGED)))


def removed_rows_query(table: KeyedTable, columns: sql.Composable) -> sql.Composed:
    """The copy's rows the live database no longer has (after `stage_live_rows`)."""
    return sql.SQL(
        "SELECT {} FROM {} AS c WHERE NOT EXISTS (SELECT 1 FROM {} AS l WHERE {})"
    ).format(columns, table.identifier, sql.Identifier(STAGED), table.keys_match("l", "c"))


def changed_rows_query(table: KeyedTable, columns: sql.Composable) -> sql.Composed:
    """The copy's version of rows whose live contents differ (after `stage_live_rows`)."""
    return sql.SQL(
        "SELECT {} FROM {} AS c JOIN {} AS l ON {} WHERE l.row_hash <> md5(c::text)"
    ).format(columns, table.identifier, sql.Identifier(STAGED), table.keys_match("l", "c"))


def transfer(source: Any, out: sql.Composable, target: Any, into: sql.Composable) -> None:
    """COPY from one server to another through a spooled file (memory, then disk)."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        with source.cursor() as cur:
            cur.copy_expert(out.as_string(source), spool)
        spool.seek(0)
        with target.cursor() as cur:
            cur.copy_expert(into.as_string(target), spool)


def _compare_table(copy: Any, live: Any, table: KeyedTable) -> TableDifference:
    stage_live_rows(copy, live, table)
    count = sql.SQL("SELECT count(*) FROM ({}) AS d")
    with copy.cursor() as cur:
        cur.execute(count.format(removed_rows_query(table, sql.SQL("1"))))
        removed = int(cur.fetchone()[0])
        cur.execute(count.format(changed_rows_query(table, sql.SQL("1"))))
        changed = int(cur.fetchone()[0])
        cur.execute(
            sql.SQL(
                "SELECT count(*) FROM {} AS l WHERE NOT EXISTS (SELECT 1 FROM {} AS c WHERE {})"
            ).format(sql.Identifier(STAGED), table.identifier, table.keys_match("c", "l"))
        )
        added = int(cur.fetchone()[0])
    copy.rollback()
    live.rollback()
    return TableDifference(table.qualified, removed, changed, added)


def _qualify(name: str) -> str:
    return name if "." in name else f"public.{name}"


def _parents_first(tables: list[KeyedTable], parents: dict[str, set[str]]) -> list[KeyedTable]:
    by_name = {t.qualified: t for t in tables}
    ordered: list[KeyedTable] = []
    placed: set[str] = set()

    def place(name: str, trail: frozenset[str]) -> None:
        if name in placed or name not in by_name or name in trail:
            return  # a circle of foreign keys: keep the written order for the rest
        for parent in sorted(parents.get(name, ())):
            place(parent, trail | {name})
        placed.add(name)
        ordered.append(by_name[name])

    for table in tables:
        place(table.qualified, frozenset())
    return ordered
