"""One process at a time carries a run out: a lease per run in the journal's database.

`dr run` and `dr resume` take the run's lease before the first step and give it back at
the end. Taking it is one serialised transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL:
SELECT ... FOR UPDATE on the run's row), so of two `dr resume` of one run started at
once, exactly one gets it; the other is refused with who holds it (host, pid, since).

A lease is renewed while the run goes on and lapses `ttl` after its holder stops
renewing, so a crashed `dr` blocks its run only that long; a holder on this machine
whose process is gone releases it at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from orchestrator.errors import JournalError, RunNotResumable
from orchestrator.journal.database import WRITE
from orchestrator.journal.schema import run_leases

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 60.0


@dataclass(frozen=True)
class LeaseHolder:
    host: str
    pid: int
    since: str


class RunLease:
    """Takes and gives back runs' leases on one journal database."""

    def __init__(self, engine: Engine, *, ttl_seconds: float = DEFAULT_TTL_S) -> None:
        self._engine = engine
        self.ttl = ttl_seconds

    @contextlib.contextmanager
    def hold(self, run_id: str) -> Iterator[LeaseHolder]:
        """Hold `run_id`'s lease for the block; RunNotResumable if another holds it."""
        token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        me = self._claim(run_id, token)
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(run_id, token, stop), name=f"lease-{run_id}", daemon=True
        )
        renewer.start()
        try:
            yield me
        finally:
            stop.set()
            renewer.join()
            with contextlib.suppress(SQLAlchemyError):
                self._release(run_id, token)

    def _claim(self, run_id: str, token: str) -> LeaseHolder:
        self._ensure_row(run_id)
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    select(run_leases).where(run_leases.c.run_id == run_id).with_for_update()
                ).one()
                if row.holder is not None and _still_held(row.host, row.pid, row.expires_at):
                    raise RunNotResumable(
                        f"run {run_id} is being carried out by process {row.pid} on "
                        f"{row.host} since {row.since}; wait for it to end, or stop that "
                        "process first"
                    )
                me = LeaseHolder(socket.gethostname(), os.getpid(), _now())
                conn.execute(
                    update(run_leases)
                    .where(run_leases.c.run_id == run_id)
                    .values(
                        holder=token,
                        host=me.host,
                        pid=me.pid,
                        since=me.since,
                        expires_at=time.time() + self.ttl,
                    )
                )
                return me
        except SQLAlchemyError as err:
            raise JournalError(f"could not take the lease of run {run_id}: {err}") from err

    def _renew(self, run_id: str, token: str, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                with self._transaction() as conn:
                    conn.execute(
                        update(run_leases)
                        .where(run_leases.c.run_id == run_id, run_leases.c.holder == token)
                        .values(expires_at=time.time() + self.ttl)
                    )
            except SQLAlchemyError as err:
                # Keep trying: the lease lasts ttl and is renewed every ttl/3.
                log.warning("could not renew the lease of run %s: %s", run_id, err)

    def _release(self, run_id: str, token: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                update(run_leases)
                .where(run_leases.c.run_id == run_id, run_leases.c.holder == token)
                .values(holder=None, expires_at=None)
            )

    def _ensure_row(self, run_id: str) -> None:
        with contextlib.suppress(IntegrityError), self._transaction() as conn:
            found = conn.execute(select(run_leases.c.run_id).where(run_leases.c.run_id == run_id))
            if found.first() is None:
                conn.execute(insert(run_leases).values(run_id=run_id))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._engine.connect() as plain:
            conn = plain.execution_options(**WRITE)
            with conn.begin():
                yield conn


def _still_held(host: str | None, pid: int | None, expires_at: float | None) -> bool:
    if (expires_at or 0) <= time.time():
        return False
    if host == socket.gethostname() and pid is not None and pid != os.getpid():
        # A holder on this machine whose process is gone holds nothing.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
