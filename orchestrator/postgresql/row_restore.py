"""Put rows a bad statement destroyed back into the live database, from a restored copy.

Only what the live database lacks goes in: for each table (parents before children) the
copy's rows whose key the live table no longer has are inserted with their original
values, identity columns included (OVERRIDING SYSTEM VALUE) and generated columns
left to the server; a row someone wrote again meanwhile is kept (ON CONFLICT DO
NOTHING). With `changed=True` the copy's version of rows changed since is written back
too; that also undoes legitimate changes made after the point, which is why it is the
operator's choice. Everything is one transaction on the live side: all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from orchestrator.postgresql.row_diff import (
    KeyedTable,
    changed_rows_query,
    connect,
    keyed_tables,
    removed_rows_query,
    stage_live_rows,
    transfer,
)

INCOMING = "dr_incoming_rows"

_WRITABLE_COLUMNS_SQL = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attgenerated = ''
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class PutBack:
    table: str
    inserted: int
    updated: int

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "inserted": self.inserted, "updated": self.updated}


def put_back_rows(
    copy_dsn: str, live_dsn: str, *, only: list[str] | None = None, changed: bool = False
) -> list[PutBack]:
    results: list[PutBack] = []
    with connect(copy_dsn) as copy, connect(live_dsn) as live:
        tables = keyed_tables(copy, only)
        try:
            for table in tables:
                results.append(_put_back(copy, live, table, changed=changed))
            live.commit()
        except Exception:
            live.rollback()
            raise
        finally:
            copy.rollback()
    return [r for r in results if r.inserted or r.updated]


def _put_back(copy: Any, live: Any, table: KeyedTable, *, changed: bool) -> PutBack:
    stage_live_rows(copy, live, table)
    columns = _writable_columns(live, table)
    listed = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    picked = sql.SQL(", ").join(sql.Identifier("c", c) for c in columns)
    _move(copy, live, table, removed_rows_query(table, picked), listed)
    with live.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} "
                "ON CONFLICT DO NOTHING"
            ).format(table.identifier, listed, listed, sql.Identifier(INCOMING))
        )
        inserted = cur.rowcount
    updated = 0
    if changed:
        _move(copy, live, table, changed_rows_query(table, picked), listed)
        others = [c for c in columns if c not in table.key_columns]
        if others:
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = i.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in others
            )
            with live.cursor() as cur:
                cur.execute(
                    sql.SQL("UPDATE {} AS t SET {} FROM {} AS i WHERE {}").format(
                        table.identifier,
                        assignments,
                        sql.Identifier(INCOMING),
                        table.keys_match("t", "i"),
                    )
                )
                updated = cur.rowcount
    return PutBack(table.qualified, inserted, updated)


def _move(
    copy: Any, live: Any, table: KeyedTable, rows: sql.Composable, listed: sql.Composable
) -> int:
    """The copy's `rows` into a fresh temporary table on the live side; how many."""
    with live.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(INCOMING)))
        cur.execute(
            sql.SQL("CREATE TEMP TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
                sql.Identifier(INCOMING), listed, table.identifier
            )
        )
    transfer(
        copy,
        sql.SQL("COPY ({}) TO STDOUT").format(rows),
        live,
        sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(INCOMING), listed),
    )
    with live.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(INCOMING)))
        return int(cur.fetchone()[0])


def _writable_columns(live: Any, table: KeyedTable) -> list[str]:
    with live.cursor() as cur:
        cur.execute(_WRITABLE_COLUMNS_SQL, (table.identifier.as_string(live),))
        return [row[0] for row in cur.fetchall()]
