"""The credit service's few database connections, remade after any failure.

A lab failover kills the server under the service's feet: pooled connections then point
at a dead (or demoted) server while still looking open. So one broken connection empties
the whole pool, and a statement that failed on a stale connection is retried once on a
fresh one. The retry is safe only before COMMIT: a lost connection rolls back what it had
not committed, but a COMMIT that did not answer may or may not have happened, and that
is never acknowledged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from psycopg2.extensions import connection as PgConnection

from lab.credit import log_event
from lab.credit.schema import libpq_dsn

T = TypeVar("T")

# Short, so an unreachable server shows as an outage within seconds, not minutes of TCP
# retries. libpq rounds connect_timeout up to 2 s; tcp_user_timeout covers a connection
# whose peer vanished mid-query (host-down, partition) without a reset.
_CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 2,
    "tcp_user_timeout": 3000,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "application_name": "credit-service",
}
_SLOT_WAIT_S = 3.0
_BROKEN = (psycopg2.OperationalError, psycopg2.InterfaceError)


class Reply(Exception):
    """A request ends with this HTTP status and message: an answer, not a crash."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DatabaseUnavailable(Reply):
    """No writable answer from the database right now: 503, and nothing acknowledged."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


class Database:
    def __init__(self, dsn: str, size: int = 4) -> None:
        self._dsn = libpq_dsn(dsn)
        self._idle: list[PgConnection] = []
        self._lock = threading.Lock()
        # Bounds connections and the threads waiting on the database alike.
        self._slots = threading.BoundedSemaphore(max(1, size))
        self._available: bool | None = None

    def run(self, statement: str, params: Sequence[Any], *, write: bool) -> list[tuple[Any, ...]]:
        """One statement in its own transaction; its rows."""

        def work(cursor: Any) -> list[tuple[Any, ...]]:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

        return self.transact(work, write=write)

    def transact(self, work: Callable[[Any], T], *, write: bool = True) -> T:
        """Run ``work(cursor)`` in one transaction, committed when ``write``, else rolled
        back; returns once COMMIT has returned."""
        if not self._slots.acquire(timeout=_SLOT_WAIT_S):
            raise DatabaseUnavailable("every database connection is busy; the server is slow")
        try:
            return self._transact(work, write)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._flush()

    def _transact(self, work: Callable[[Any], T], write: bool) -> T:
        for attempt in (1, 2):
            conn = self._take()
            try:
                with conn.cursor() as cursor:
                    result = work(cursor)
            except _BROKEN as err:
                self._lost(conn, err)
                if attempt == 2:
                    raise DatabaseUnavailable(
                        f"the database connection broke: {_text(err)}"
                    ) from None
                continue
            except psycopg2.errors.ReadOnlySqlTransaction as err:
                # The server became (or is) a standby: every pooled session is suspect.
                self._lost(conn, err)
                raise DatabaseUnavailable("the database is read-only (a standby?)") from None
            except psycopg2.Error as err:
                self._give_back(conn, rollback=True)
                raise Reply(500, f"the database refused the request: {_text(err)}") from None
            except BaseException:
                self._give_back(conn, rollback=True)
                raise
            try:
                conn.commit() if write else conn.rollback()
            except psycopg2.Error as err:
                self._lost(conn, err)
                raise DatabaseUnavailable(
                    f"COMMIT did not return ({_text(err)}); the write may or may not be stored"
                    if write
                    else f"the database connection broke: {_text(err)}"
                ) from None
            self._give_back(conn)
            self._mark(True, None)
            return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _take(self) -> PgConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return psycopg2.connect(self._dsn, **_CONNECT_OPTIONS)
        except psycopg2.Error as err:
            self._mark(False, err)
            raise DatabaseUnavailable(f"cannot connect to the database: {_text(err)}") from None

    def _give_back(self, conn: PgConnection, *, rollback: bool = False) -> None:
        try:
            if rollback:
                conn.rollback()
        except psycopg2.Error as err:
            self._lost(conn, err)
            return
        with self._lock:
            self._idle.append(conn)

    def _lost(self, conn: PgConnection, err: Exception) -> None:
        conn.close()
        self._flush()
        self._mark(False, err)

    def _flush(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _mark(self, available: bool, err: Exception | None) -> None:
        """Log only the changes: the prober asks ten times a second per branch."""
        with self._lock:
            changed = self._available is not available
            self._available = available
        if changed:
            if available:
                log_event("database_available")
            else:
                log_event("database_unavailable", error=_text(err) if err else None)


def _text(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__
