"""One read-only query against a running server: the `sql` probe of a takeover.

The session is opened read-only (`SET SESSION CHARACTERISTICS ... READ ONLY`, through
psycopg2's `set_session`), so the server itself refuses any write the query might
attempt, and the transaction is rolled back either way: the probe leaves no trace in
the business data, whatever the inventory's query says.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg2

from orchestrator.postgresql.errors import PostgresError


@dataclass(frozen=True)
class Server:
    """Where and as whom to connect. `password` is resolved from its reference by the
    caller and never printed."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = None
    sslmode: str = "prefer"
    sslrootcert: str | None = None


def first_row(server: Server, query: str, *, timeout_s: int = 5) -> tuple[object, ...] | None:
    """The query's first row (None when it returned none); PostgresError when the server
    cannot be reached or refuses the query (a write is refused: the session is read-only)."""
    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "dbname": server.dbname,
        "user": server.user,
        "sslmode": server.sslmode,
        "connect_timeout": timeout_s,
        "application_name": "dr probe",
    }
    if server.password is not None:
        options["password"] = server.password
    if server.sslrootcert is not None:
        options["sslrootcert"] = server.sslrootcert
    try:
        conn = psycopg2.connect(**options)
    except psycopg2.Error as err:
        raise PostgresError(
            f"cannot connect to {server.host}:{server.port}: {_first(err)}"
        ) from None
    try:
        conn.set_session(readonly=True, autocommit=False)
        with conn.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
            cursor.execute(query)
            row = cursor.fetchone() if cursor.description is not None else None
        return tuple(row) if row is not None else None
    except psycopg2.Error as err:
        raise PostgresError(f"the probe query failed: {_first(err)}") from None
    finally:
        with contextlib.suppress(psycopg2.Error):  # a broken connection has nothing to undo
            conn.rollback()
        conn.close()


def _first(err: psycopg2.Error) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
