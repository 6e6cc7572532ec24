"""The business rows an old timeline acknowledged that the new primary does not have.

After an asynchronous cutover the old primary's history runs on past the point the
standby had reached: loans and repayments acknowledged to the branches in those last
seconds (or minutes, with a lagging standby) exist only there. A rewind discards them.
Read from the old cluster (started read-only, `old_timeline.py`) and compared with the
new primary, each declared business table's rows (inventory: `host_pairs[].transactions`)
fall into:

    missing   the key is not on the new primary: the write was lost
    replaced  the key is there but names another row (its `at` time differs): the new
              primary handed the same id to a later write; the old one was lost
    changed   the same row (same key and time) with other contents: updated on one
              side after the split; listed for the branch to check, not counted lost

Only rows from `lookback` before the old side's newest one are compared: the split is
recent, and a county union's day of business reads in well under a second. Both sides
are read with the same TimeZone and DateStyle, so `md5(row::text)` is comparable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import psycopg2
from psycopg2 import sql

from orchestrator.inventory.transactions import TransactionTable
from orchestrator.postgresql.errors import PostgresError

Reason = Literal["missing", "replaced", "changed"]
# The journal event a comparison (or the reason there was none) is recorded as.
RECORD_KIND = "lost_transactions"
LOST_REASONS: tuple[Reason, ...] = ("missing", "replaced")
# Keys looked up on the new primary per query: one round trip per few thousand rows.
_LOOKUP_BATCH = 5000
_SAME_TEXT = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'", "SET extra_float_digits = 3")


@dataclass(frozen=True)
class TimelineRow:
    """One business row of the old timeline that the new primary lacks or holds otherwise."""

    kind: str
    table: str
    key: str
    at: datetime
    branch: str | None
    amount: Decimal | None
    reason: Reason

    @property
    def lost(self) -> bool:
        return self.reason in LOST_REASONS

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "table": self.table,
            "key": self.key,
            "at": self.at.isoformat(),
            "branch": self.branch,
            "amount": None if self.amount is None else str(self.amount),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TimelineRow:
        amount = doc.get("amount")
        return cls(
            kind=str(doc["kind"]),
            table=str(doc["table"]),
            key=str(doc["key"]),
            at=datetime.fromisoformat(str(doc["at"])),
            branch=doc.get("branch"),
            amount=None if amount is None else Decimal(str(amount)),
            reason=doc["reason"],
        )


@dataclass(frozen=True)
class TimelineDiff:
    """What the comparison found, and over what it looked."""

    since: dict[str, str]  # kind -> the earliest row time compared (ISO)
    compared: dict[str, int]  # kind -> rows of the old timeline compared
    rows: tuple[TimelineRow, ...] = field(default_factory=tuple)

    @property
    def lost(self) -> list[TimelineRow]:
        return [row for row in self.rows if row.lost]

    @property
    def lost_amount(self) -> Decimal:
        return sum((row.amount or Decimal(0) for row in self.lost), Decimal(0))

    @property
    def changed(self) -> list[TimelineRow]:
        return [row for row in self.rows if not row.lost]

    def by_branch(self) -> dict[str, list[TimelineRow]]:
        """Lost rows per branch ('' when the row names none), each in time order."""
        found: dict[str, list[TimelineRow]] = {}
        for row in sorted(self.lost, key=lambda r: (r.at, r.kind, r.key)):
            found.setdefault(row.branch or "", []).append(row)
        return dict(sorted(found.items()))

    def to_dict(self) -> dict[str, Any]:
        lost = self.lost
        return {
            "since": self.since,
            "compared": self.compared,
            "lost_count": len(lost),
            "changed_count": len(self.rows) - len(lost),
            "lost_amount": str(self.lost_amount),
            "rows": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TimelineDiff:
        return cls(
            since=dict(doc.get("since", {})),
            compared=dict(doc.get("compared", {})),
            rows=tuple(TimelineRow.from_dict(r) for r in doc.get("rows", [])),
        )


def compare_timelines(
    old_dsn: str, new_dsn: str, tables: Sequence[TransactionTable], lookback: timedelta
) -> TimelineDiff:
    """Rows of `tables` on the old timeline (read-only) that the new primary lacks."""
    since: dict[str, str] = {}
    compared: dict[str, int] = {}
    rows: list[TimelineRow] = []
    with _connected(old_dsn, "the old primary") as old, _connected(new_dsn, "the new") as new:
        for table in tables:
            start, count, found = _compare_table(old, new, table, lookback)
            if start is not None:
                since[table.kind] = start.isoformat()
            compared[table.kind] = compared.get(table.kind, 0) + count
            rows += found
    rows.sort(key=lambda r: (r.at, r.kind, r.key))
    return TimelineDiff(since, compared, tuple(rows))


@contextmanager
def _connected(dsn: str, which: str) -> Iterator[Any]:
    try:
        conn = psycopg2.connect(dsn, application_name="dr lost-transactions")
    except psycopg2.Error as err:
        raise PostgresError(f"cannot connect to {which} database: {err}".strip()) from None
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            for statement in _SAME_TEXT:
                cur.execute(statement)
        yield conn
    finally:
        conn.close()


def _compare_table(
    old: Any, new: Any, table: TransactionTable, lookback: timedelta
) -> tuple[datetime | None, int, list[TimelineRow]]:
    try:
        start = _window_start(old, table, lookback)
        if start is None:
            return None, 0, []
        candidates = _old_rows(old, table, start)
        found: list[TimelineRow] = []
        for offset in range(0, len(candidates), _LOOKUP_BATCH):
            batch = candidates[offset : offset + _LOOKUP_BATCH]
            on_new = _new_rows(new, table, [row[0] for row in batch])
            for key, at, amount, branch, digest in batch:
                reason = _reason(on_new.get(key), at, digest)
                if reason is not None:
                    found.append(
                        TimelineRow(table.kind, table.table, str(key), at, branch, amount, reason)
                    )
    except psycopg2.Error as err:
        raise PostgresError(
            f"cannot compare table {table.table} ({table.kind}): {str(err).strip()}; check "
            "its columns in the inventory's host_pairs[].transactions"
        ) from None
    return start, len(candidates), found


def _reason(on_new: tuple[datetime, str] | None, at: datetime, digest: str) -> Reason | None:
    if on_new is None:
        return "missing"
    new_at, new_digest = on_new
    if new_at != at:
        return "replaced"
    return None if new_digest == digest else "changed"


def _window_start(old: Any, table: TransactionTable, lookback: timedelta) -> datetime | None:
    query = sql.SQL("SELECT max({at}) FROM {table}").format(
        at=sql.Identifier(table.at), table=_table(table.table)
    )
    with old.cursor() as cur:
        cur.execute(query)
        newest = cur.fetchone()[0]
    return None if newest is None else newest - lookback


def _old_rows(old: Any, table: TransactionTable, start: datetime) -> list[tuple[Any, ...]]:
    amount = sql.SQL("t.{}").format(sql.Identifier(table.amount)) if table.amount else sql.NULL
    join: sql.Composable = sql.SQL("")
    if table.branch is not None:
        branch: sql.Composable = sql.SQL("t.{}::text").format(sql.Identifier(table.branch))
    elif table.branch_via is not None:
        via = table.branch_via
        branch = sql.SQL("p.{}::text").format(sql.Identifier(via.branch))
        join = sql.SQL(" LEFT JOIN {parent} p ON p.{pkey} = t.{column}").format(
            parent=_table(via.table),
            pkey=sql.Identifier(via.key),
            column=sql.Identifier(via.column),
        )
    else:
        branch = sql.NULL
    query = sql.SQL(
        "SELECT t.{key}, t.{at}, {amount}, {branch}, md5(t::text) FROM {table} t{join}"
        " WHERE t.{at} >= %s ORDER BY t.{at}, t.{key}"
    ).format(
        key=sql.Identifier(table.key),
        at=sql.Identifier(table.at),
        amount=amount,
        branch=branch,
        table=_table(table.table),
        join=join,
    )
    with old.cursor() as cur:
        cur.execute(query, (start,))
        return list(cur.fetchall())


def _new_rows(new: Any, table: TransactionTable, keys: list[Any]) -> dict[Any, tuple[Any, str]]:
    query = sql.SQL(
        "SELECT t.{key}, t.{at}, md5(t::text) FROM {table} t WHERE t.{key} = ANY(%s)"
    ).format(key=sql.Identifier(table.key), at=sql.Identifier(table.at), table=_table(table.table))
    with new.cursor() as cur:
        cur.execute(query, (keys,))
        return {key: (at, digest) for key, at, digest in cur.fetchall()}


def _table(name: str) -> sql.Composed:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))
