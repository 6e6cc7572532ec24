"""The records database engine, shared by the journal and the scheduler's leases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from orchestrator.private_files import create_private

# Execution options of a connection that will write: see make_engine.
WRITE: dict[str, Any] = {"dr_write": True}


def make_engine(url: str) -> Engine:
    """An engine for the records database; on SQLite, WAL and our own transactions.

    A connection with the execution options `WRITE` begins with BEGIN IMMEDIATE, taking
    SQLite's write lock at once, so read-then-write sequences (the chain head, a lease)
    cannot interleave between processes. PostgreSQL callers lock rows instead.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        # Owner-only: SQLite gives its -wal and -shm files the database file's mode.
        create_private(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to issue.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, not just a killed process.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writing = conn.get_execution_options().get("dr_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine
