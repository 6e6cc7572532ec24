"""The journal store: every write is one transaction that appends a chained event.

SQLite (WAL) is the default; a PostgreSQL URL lets several operators and the scheduler
share one record. Appends are serialised so that the chain has exactly one order:
SQLite by `BEGIN IMMEDIATE`, PostgreSQL by locking the chain-head row.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from orchestrator.errors import JournalError, RunNotFound
from orchestrator.journal import schema
from orchestrator.journal.chain import (
    GENESIS_HASH,
    ChainVerdict,
    canonical_json,
    event_mac,
    link_hash,
)
from orchestrator.journal.chain import verify_events as _verify_events
from orchestrator.journal.database import WRITE, make_engine
from orchestrator.journal.existing import refuse_missing_sqlite_file, refuse_without_journal_tables
from orchestrator.journal.hot_sql import HotSql
from orchestrator.journal.key import JournalKey
from orchestrator.journal.records import EventRecord, MeasurementRecord, RunRecord, StepRecord
from orchestrator.journal.run_lease import RunLease

Projection = Callable[[Connection], None]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Journal:
    """One journal database. Thread-safe; cheap to keep open for a whole run.

    With a `key` (key.py), every event appended carries a MAC and `verify` checks them;
    without one, events are chained by SHA-256 only (see chain.py for what that means).
    """

    def __init__(
        self, url: str, key: JournalKey | None = None, *, must_exist: bool = False
    ) -> None:
        """`must_exist`: for commands that only read (reports, verify, listings): a
        database that is missing, or holds no journal, is refused (`JournalNotFound`)
        instead of being created empty (existing.py)."""
        self.url = url
        self.key = key
        self._write_lock = threading.Lock()
        if must_exist:
            refuse_missing_sqlite_file(url)
        try:
            self._engine = make_engine(url)
            if must_exist:
                refuse_without_journal_tables(self._engine, url)
            self._sql = HotSql(self._engine.dialect.name, self._engine.dialect.paramstyle)
            self._create_schema()
            self._keyed_before = self._newest_is_keyed()
        except (SQLAlchemyError, OSError) as err:
            # OSError: the SQLite file's directory cannot be made (a file is in the way,
            # no permission).
            raise JournalError(
                f"cannot open the journal at {make_url(url).render_as_string()}: "
                f"{err.__class__.__name__}: {_first_line(err)}. Check --db / DR_DB and that "
                "the database is reachable."
            ) from err

    def close(self) -> None:
        self._engine.dispose()

    # ---- writing -------------------------------------------------------------------

    def append(
        self,
        kind: str,
        *,
        run_id: str | None = None,
        step_id: str | None = None,
        host: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
        projection: Projection | None = None,
        at: str | None = None,
    ) -> int:
        """Append one event (and apply its projection) atomically; returns its seq.

        `at`: the event's time, when its projection records the same moment (a step's
        started_at), so that the row and its chained event agree to the microsecond."""
        if self.key is None and self._keyed_before:
            raise JournalError(
                f"the journal at {self.describe()} is keyed, and this process has no key: an "
                "unkeyed event would break its chain. Give the key (DR_JOURNAL_KEY, the "
                "inventory's journal.key, or ~/.config/dr/journal.key) and try again."
            )
        body = canonical_json(data or {})
        with self._write_lock, self._write_transaction() as conn:
            cursor = raw_cursor(conn)
            cursor.execute(self._sql.select_head)
            head_seq, head_hash = cursor.fetchone()
            row = {
                "seq": head_seq + 1,
                "run_id": run_id,
                "at": at or utc_now(),
                "kind": kind,
                "step_id": step_id,
                "host": host,
                "actor": actor,
                "data": body,
            }
            row["prev_hash"] = head_hash
            row["hash"] = link_hash(head_hash, row)
            row["mac"] = event_mac(self.key, row["hash"]) if self.key else None
            cursor.execute(self._sql.insert_event, row)
            cursor.execute(self._sql.update_head, {"seq": row["seq"], "hash": row["hash"]})
            if projection is not None:
                projection(conn)
            return int(row["seq"])

    def create_run(self, run: RunRecord) -> None:
        values = run.to_dict()

        def project(conn: Connection) -> None:
            conn.execute(insert(schema.runs).values(**values))

        self.append(
            "run.started",
            run_id=run.id,
            actor=run.started_by,
            data=_public_run_fields(values),
            projection=project,
        )

    def set_run_status(
        self,
        run_id: str,
        status: str,
        *,
        detail: str | None = None,
        finished: bool = False,
        actor: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "detail": detail}
        if finished:
            values["finished_at"] = utc_now()

        def project(conn: Connection) -> None:
            conn.execute(update(schema.runs).where(schema.runs.c.id == run_id).values(**values))

        self.append(
            f"run.{status}",
            run_id=run_id,
            actor=actor,
            data={"status": status, "detail": detail},
            projection=project,
        )

    def claim_run(self, run_id: str, *, pid: int, host: str, actor: str) -> None:
        """Mark the run as being carried out again, by this process."""
        values = {
            "status": "running",
            "owner_pid": pid,
            "owner_host": host,
            "detail": None,
            "finished_at": None,
        }

        def project(conn: Connection) -> None:
            conn.execute(update(schema.runs).where(schema.runs.c.id == run_id).values(**values))

        self.append(
            "run.resumed",
            run_id=run_id,
            actor=actor,
            data={"pid": pid, "host": host},
            projection=project,
        )

    def step_started(
        self, run_id: str, step_id: str, host: str, *, kind: str, attempt: int
    ) -> None:
        at = utc_now()
        values: dict[str, Any] = {
            "run_id": run_id,
            "step_id": step_id,
            "host": host,
            "kind": str(kind),
            "attempts": attempt,
            "at": at,
        }

        def project(conn: Connection) -> None:
            raw_cursor(conn).execute(self._sql.step_started, values)

        self.append(
            "step.started",
            run_id=run_id,
            step_id=step_id,
            host=host or None,
            data={"kind": str(kind), "attempt": attempt},
            projection=project,
            at=at,
        )

    def step_finished(
        self,
        run_id: str,
        step_id: str,
        host: str,
        *,
        kind: str,
        status: str,
        result: Any = None,
        error: str | None = None,
        actor: str | None = None,
    ) -> None:
        values = {
            "run_id": run_id,
            "step_id": step_id,
            "host": host,
            "kind": str(kind),
            "status": status,
            "at": utc_now(),
            "error": error,
            "result": None if result is None else canonical_json(result),
        }

        def project(conn: Connection) -> None:
            raw_cursor(conn).execute(self._sql.step_finished, values)

        self.append(
            f"step.{status}",
            run_id=run_id,
            step_id=step_id,
            host=host or None,
            actor=actor,
            data={"kind": str(kind), "result": result, "error": error},
            projection=project,
            at=values["at"],
        )

    def record_measurement(self, run_id: str, measurement: MeasurementRecord) -> None:
        values = measurement.to_dict()

        def project(conn: Connection) -> None:
            conn.execute(insert(schema.measurements).values(run_id=run_id, **values))

        self.append("measurement", run_id=run_id, data=values, projection=project)

    # ---- reading -------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        with self._engine.connect() as conn:
            row = conn.execute(select(schema.runs).where(schema.runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(
                f"no run {run_id!r} in the journal ({self.describe()}); "
                "list runs with `dr runs list`."
            )
        return RunRecord(**row._asdict())

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        query = select(schema.runs).order_by(schema.runs.c.started_at.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [RunRecord(**row._asdict()) for row in conn.execute(query)]

    def steps(self, run_id: str) -> list[StepRecord]:
        query = (
            select(schema.steps).where(schema.steps.c.run_id == run_id).order_by(schema.steps.c.id)
        )
        with self._engine.connect() as conn:
            return [
                StepRecord(
                    step_id=r.step_id,
                    host=r.host,
                    kind=r.kind,
                    status=r.status,
                    attempts=r.attempts,
                    started_at=r.started_at,
                    finished_at=r.finished_at,
                    result=r.result,
                    error=r.error,
                )
                for r in conn.execute(query)
            ]

    def measurements(self, run_id: str) -> list[MeasurementRecord]:
        cols = schema.measurements.c
        query = select(schema.measurements).where(cols.run_id == run_id).order_by(cols.id)
        with self._engine.connect() as conn:
            return [
                MeasurementRecord(
                    name=r.name,
                    value_seconds=r.value_seconds,
                    target_seconds=r.target_seconds,
                    met=r.met,
                    source=r.source,
                    detail=r.detail,
                    recorded_at=r.recorded_at,
                )
                for r in conn.execute(query)
            ]

    def events(
        self,
        run_id: str | None = None,
        kinds: tuple[str, ...] = (),
        *,
        since: datetime | None = None,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        """Events in the order appended (`newest_first`: the other way); `since`: only
        those appended at or after it, a look back over the last hours without reading
        the whole journal (`at` is UTC ISO text, which sorts as time does)."""
        cols = schema.events.c
        query = select(schema.events).order_by(cols.seq.desc() if newest_first else cols.seq)
        if run_id is not None:
            query = query.where(cols.run_id == run_id)
        if kinds:
            query = query.where(cols.kind.in_(kinds))
        if since is not None:
            query = query.where(cols.at >= since.astimezone(UTC).isoformat(timespec="microseconds"))
        with self._engine.connect() as conn:
            return [EventRecord.from_row(r) for r in conn.execute(query)]

    def verify(self) -> ChainVerdict:
        """Prove the whole chain, streaming rows so a large journal needs little memory."""
        with self._engine.connect() as conn:
            head = conn.execute(
                select(schema.chain_head).where(schema.chain_head.c.id == 1)
            ).first()
            rows = conn.execution_options(yield_per=2000).execute(
                select(schema.events).order_by(schema.events.c.seq)
            )
            return _verify_events(
                (r._mapping for r in rows), head._mapping if head is not None else None, self.key
            )

    @property
    def keyed(self) -> bool:
        return self.key is not None

    def journal_id(self) -> str:
        with self._engine.connect() as conn:
            found = conn.execute(select(schema.journal_identity.c.journal_id)).scalar()
        return str(found)

    def head(self) -> tuple[int, str]:
        with self._engine.connect() as conn:
            row = conn.execute(select(schema.chain_head).where(schema.chain_head.c.id == 1)).one()
        return int(row.seq), str(row.hash)

    def event_link(self, seq: int) -> tuple[str, str | None] | None:
        """The (hash, mac) of event `seq`, or None if there is no such event."""
        cols = schema.events.c
        with self._engine.connect() as conn:
            row = conn.execute(select(cols.hash, cols.mac).where(cols.seq == seq)).first()
        return None if row is None else (str(row.hash), row.mac)

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (for `dr journal setup-postgres` and the anchors)."""
        return self._engine

    def describe(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def run_lease(self) -> RunLease:
        """The runs' leases in this database: one process carries a run out at a time."""
        return RunLease(self._engine)

    # ---- internals -----------------------------------------------------------------

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                conn = conn.execution_options(**WRITE)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as err:
            raise JournalError(
                f"could not write to the journal at {self.describe()}: {_first_line(err)}. "
                "The step's outcome is unknown to the journal: check the database, then "
                "`dr resume` the run."
            ) from err

    def _newest_is_keyed(self) -> bool:
        cols = schema.events.c
        with self._engine.connect() as conn:
            newest = conn.execute(select(cols.mac).order_by(cols.seq.desc()).limit(1)).first()
        return newest is not None and newest.mac is not None

    def _create_schema(self) -> None:
        """Tables and the chain head, in one write transaction (BEGIN IMMEDIATE on
        SQLite): two processes opening a new database at once (two scheduler daemons)
        otherwise both read, then both try to write, and SQLite fails one of them with
        "database is locked" at once instead of letting it wait its turn."""
        with self._engine.connect() as plain:
            conn = plain.execution_options(**WRITE)
            with conn.begin():
                schema.metadata.create_all(conn)
                _upgrade(conn)
                _ensure_identity(conn)
                if conn.execute(select(schema.chain_head.c.id)).first() is not None:
                    return
                # PostgreSQL has no BEGIN IMMEDIATE: two creators may both get here.
                try:
                    with conn.begin_nested():
                        row = {"id": 1, "seq": 0, "hash": GENESIS_HASH}
                        conn.execute(insert(schema.chain_head).values(**row))
                except IntegrityError:
                    pass  # another process created it first: that is fine


def _upgrade(conn: Connection) -> None:
    """Columns added since a database was made: `events.mac` (the keyed link),
    `incidents.aftermath` (what an incident leaves owed)."""
    columns = {c["name"] for c in inspect(conn).get_columns("events")}
    if "mac" not in columns:
        conn.execute(text("ALTER TABLE events ADD COLUMN mac VARCHAR(120)"))
    incident_columns = {c["name"] for c in inspect(conn).get_columns("incidents")}
    if "aftermath" not in incident_columns:
        conn.execute(text("ALTER TABLE incidents ADD COLUMN aftermath JSON"))


def _ensure_identity(conn: Connection) -> None:
    """The journal's random id, made once; an older database gets one when first opened."""
    if conn.execute(select(schema.journal_identity.c.id)).first() is not None:
        return
    try:
        with conn.begin_nested():
            row = {"id": 1, "journal_id": secrets.token_hex(16), "created_at": utc_now()}
            conn.execute(insert(schema.journal_identity).values(**row))
    except IntegrityError:
        pass  # another process made it first (PostgreSQL)


def raw_cursor(conn: Connection) -> Any:
    """The driver's own cursor, inside SQLAlchemy's transaction (the hot path only)."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _public_run_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "status"}


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
