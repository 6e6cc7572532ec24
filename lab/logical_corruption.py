"""The `logical-corruption` fault: a bad DELETE through the credit service's own account.

On the primary (the host that holds the VIP: where the service answers), as
`credit_app`, one transaction deletes every fifth repayment (`id % 5 = 0`): thousands
of generated rows and, as the load generator keeps writing, rows it wrote and had
acknowledged. Streaming replication carries the loss to the standby at once, which is
the point: failover cannot help, only a point-in-time restore can.

Before the statement commits, the fault keeps what a drill needs to judge the recovery,
in `STATE/faults/logical-corruption/` (0700, files 0600):

- `record.json`: `before_time` (the server's clock_timestamp() just before, UTC ISO
  8601) and `before_time_local` (the same moment in the inventory's time zone, as
  `-p to=` takes it), `before_lsn` (pg_current_wal_lsn() just before), `xid` (the
  deleting transaction: a restore with `before_xid=` / `--target-exclusive` stops just
  before it), `host`, `statement`, `deleted` (rows per table) and `rows_file`;
- `repayments.jsonl`: every deleted row, one JSON object a line (id, loan_id, amount as
  text, paid_at ISO 8601), in id order.

The heal puts back every saved row that is missing (same id, loan, amount and time), on
whichever host serves now; a row whose loan no longer exists (a roll-back to before it
was issued) is left out and counted.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg2
from psycopg2.extras import execute_values

from lab import topology
from lab.credit.schema import connect
from lab.errors import LabError
from lab.state import LabState
from lab.topology import LabTopology


class Lab(Protocol):
    """What the fault needs of the lab (faults.Lab is one)."""

    state: LabState

    def credit_dsn(self, topo: LabTopology, host: str, via: str = "mgmt") -> str: ...


NAME = "logical-corruption"
TABLE = "repayments"
# Every fifth row: a real share, spread over old and new rows alike.
CONDITION = "id % 5 = 0"
STATEMENT = f"DELETE FROM {TABLE} WHERE {CONDITION}"
_SELECT = f"SELECT id, loan_id, amount::text, paid_at FROM {TABLE} WHERE {CONDITION} ORDER BY id"
_PUT_BACK = (
    f"INSERT INTO {TABLE} (id, loan_id, amount, paid_at)"
    " SELECT v.id, v.loan_id, v.amount, v.paid_at FROM (VALUES %s) AS v(id, loan_id, amount,"
    " paid_at) WHERE EXISTS (SELECT 1 FROM loans l WHERE l.id = v.loan_id)"
    " ON CONFLICT (id) DO NOTHING"
)
_ROW_TYPES = "(%s::bigint, %s::bigint, %s::numeric, %s::timestamptz)"


@dataclass(frozen=True)
class CorruptionRecord:
    before_time: str
    before_time_local: str
    timezone: str
    before_lsn: str
    xid: str
    host: str
    statement: str
    deleted: dict[str, int]
    rows_file: str

    def summary(self) -> dict[str, Any]:
        """What `dr lab fault` prints and `dr lab status` shows."""
        return {**asdict(self), "record": str(Path(self.rows_file).with_name("record.json"))}


def record_dir(state: LabState) -> Path:
    return state.root / "faults" / NAME


def load_record(state: LabState) -> CorruptionRecord:
    """The record of the last injection (kept after the heal, until the next one)."""
    path = record_dir(state) / "record.json"
    try:
        return CorruptionRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise LabError(f"no logical-corruption record at {path} ({err})") from None


def deleted_rows(record: CorruptionRecord) -> list[dict[str, Any]]:
    """The rows the fault deleted, as saved before the statement ran."""
    with Path(record.rows_file).open(encoding="utf-8") as rows:
        return [json.loads(line) for line in rows if line.strip()]


def inject(lab: Lab, topo: LabTopology, args: list[str]) -> dict[str, Any]:
    if args:
        raise LabError("usage: dr lab fault logical-corruption (no arguments)")
    if NAME in lab.state.load().faults:
        raise LabError(
            "logical-corruption is in force already; `dr lab heal logical-corruption` first "
            "(its saved rows would be overwritten)"
        )
    host = serving_host(topo)
    directory = record_dir(lab.state)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    rows_file = directory / f"{TABLE}.jsonl"
    with connect(lab.credit_dsn(topo, host)) as conn:
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT clock_timestamp(), pg_current_wal_lsn()::text")
                before_time, before_lsn = _one_row(cursor)
            conn.autocommit = False
            # One snapshot for the rows saved and the rows deleted: a repayment the load
            # generator commits meanwhile is in neither.
            conn.set_session(isolation_level="REPEATABLE READ")
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()::text")
                (xid,) = _one_row(cursor)
                cursor.execute(_SELECT + " FOR UPDATE")
                rows = cursor.fetchall()
                _write_private(rows_file, "".join(_row_line(row) for row in rows))
                cursor.execute(STATEMENT)
                deleted = cursor.rowcount
                if deleted != len(rows):
                    raise LabError(f"deleted {deleted} rows but saved {len(rows)}; rolled back")
            conn.commit()
        except psycopg2.Error as err:
            raise LabError(f"the destructive statement failed on {host}: {err}") from None
    zone = _timezone(lab.state)
    record = CorruptionRecord(
        before_time=before_time.isoformat(),
        before_time_local=before_time.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S.%f"),
        timezone=zone,
        before_lsn=before_lsn,
        xid=xid,
        host=host,
        statement=STATEMENT,
        deleted={TABLE: deleted},
        rows_file=str(rows_file),
    )
    _write_private(directory / "record.json", json.dumps(asdict(record), indent=1) + "\n")
    return record.summary()


def heal(lab: Lab, topo: LabTopology, args: list[str]) -> dict[str, Any]:
    record = load_record(lab.state)
    rows = deleted_rows(record)
    host = serving_host(topo)
    values = [(r["id"], r["loan_id"], r["amount"], r["paid_at"]) for r in rows]
    ids = [v[0] for v in values]
    count = f"SELECT count(*) FROM {TABLE} WHERE id = ANY(%s)"
    with connect(lab.credit_dsn(topo, host)) as conn:
        try:
            with conn, conn.cursor() as cursor:
                cursor.execute(count, (ids,))
                (present,) = _one_row(cursor)
                execute_values(cursor, _PUT_BACK, values, template=_ROW_TYPES, page_size=1000)
                cursor.execute(count, (ids,))
                (now_present,) = _one_row(cursor)
        except psycopg2.Error as err:
            raise LabError(f"putting the deleted rows back on {host} failed: {err}") from None
    return {
        "host": host,
        "saved": len(rows),
        "already_present": present,
        "put_back": now_present - present,
        "loan_missing": len(rows) - now_present,
    }


def serving_host(topo: LabTopology) -> str:
    """The host that holds the VIP (where the credit service answers)."""
    holders = topology.vip_holders(topo)
    if len(holders) != 1:
        raise LabError(
            f"{'no host' if not holders else ' and '.join(holders)} holds the service VIP "
            f"{topo.vip}: the fault needs the one host where the credit service answers"
        )
    return holders[0]


def _one_row(cursor: Any) -> tuple[Any, ...]:
    row = cursor.fetchone()
    if row is None:
        raise LabError("the credit database answered a one-row query with no row")
    return tuple(row)


def _row_line(row: tuple[Any, ...]) -> str:
    identifier, loan_id, amount, paid_at = row
    data = {"id": identifier, "loan_id": loan_id, "amount": amount, "paid_at": paid_at.isoformat()}
    return json.dumps(data) + "\n"


def _timezone(state: LabState) -> str:
    from orchestrator.inventory import load_inventory

    return load_inventory(state.inventory_file).timezone


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, 0o600)
        handle.write(text)
