"""One run of a job at a time, and one run per fire time, across every daemon on a database.

APScheduler 3 does not share a job store between schedulers safely: two daemons reading
the same due job both run it. So each run first takes the job's lease, a row of
`scheduler_leases` (job_id, holder, expires_at, claimed_fire_time) changed in one
serialised transaction (PostgreSQL: SELECT ... FOR UPDATE on the row; SQLite: BEGIN
IMMEDIATE, which locks the file for writing). The run is skipped when another holder's
lease has not expired, or when the fire time it would run was already claimed. A lease
is renewed while its job runs, so a crashed daemon blocks the job only until expiry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    Float,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from orchestrator.journal.database import WRITE, make_engine

log = logging.getLogger(__name__)

metadata = MetaData()
leases = Table(
    "scheduler_leases",
    metadata,
    Column("job_id", String(200), primary_key=True),
    Column("holder", String(200)),
    Column("expires_at", Float),  # epoch seconds: compares the same on both databases
    Column("claimed_fire_time", Float),
)


def new_holder() -> str:
    """Names one daemon: host and pid for people, a random part for two in one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class LeaseStore:
    def __init__(
        self,
        url: str,
        holder: str,
        *,
        ttl_seconds: float = 300,
        also_create: Sequence[Table] = (),
    ) -> None:
        self.holder = holder
        self.ttl = ttl_seconds
        self._engine = make_engine(url)
        # In a write transaction (BEGIN IMMEDIATE on SQLite), so that two daemons
        # starting at once on a new database wait for each other instead of failing.
        # `also_create`: tables others would create racily (APScheduler's job store
        # checks, then creates, outside any transaction).
        with self._engine.connect() as plain:
            conn = plain.execution_options(**WRITE)
            with conn.begin():
                metadata.create_all(conn)
                for table in also_create:
                    table.create(conn, checkfirst=True)

    def close(self) -> None:
        self._engine.dispose()

    @contextlib.contextmanager
    def hold(self, job_id: str, fire_time: datetime) -> Iterator[bool]:
        """Yield True while this daemon holds the job's lease for `fire_time`, else
        False (someone else runs it now, or already ran that fire time)."""
        if not self._claim(job_id, fire_time.timestamp()):
            yield False
            return
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(job_id, stop), name=f"lease-{job_id}", daemon=True
        )
        renewer.start()
        try:
            yield True
        finally:
            stop.set()
            renewer.join()
            self._release(job_id)

    def _claim(self, job_id: str, fire: float) -> bool:
        self._ensure_row(job_id)
        with self._transaction() as conn:
            row = conn.execute(
                select(leases).where(leases.c.job_id == job_id).with_for_update()
            ).one()
            now = time.time()
            if row.holder not in (None, self.holder) and (row.expires_at or 0) > now:
                log.info("job %s is running in %s; not starting it here", job_id, row.holder)
                return False
            if row.claimed_fire_time is not None and row.claimed_fire_time >= fire:
                log.info("job %s: fire time %s was already run by a daemon", job_id, fire)
                return False
            values = {"holder": self.holder, "expires_at": now + self.ttl}
            conn.execute(
                update(leases)
                .where(leases.c.job_id == job_id)
                .values(**values, claimed_fire_time=fire)
            )
            return True

    def _renew(self, job_id: str, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                with self._transaction() as conn:
                    conn.execute(
                        update(leases)
                        .where(leases.c.job_id == job_id, leases.c.holder == self.holder)
                        .values(expires_at=time.time() + self.ttl)
                    )
            except SQLAlchemyError as err:
                # Keep trying: one failed renewal (a database restart) need not lose the
                # lease, which lasts ttl and is renewed every ttl/3.
                log.warning("could not renew the lease of job %s: %s", job_id, err)

    def _release(self, job_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.job_id == job_id, leases.c.holder == self.holder)
                .values(holder=None, expires_at=None)
            )

    def _ensure_row(self, job_id: str) -> None:
        with contextlib.suppress(IntegrityError), self._transaction() as conn:
            if conn.execute(select(leases.c.job_id).where(leases.c.job_id == job_id)).first():
                return
            conn.execute(insert(leases).values(job_id=job_id))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        # Every lease transaction writes: on SQLite it takes the write lock at BEGIN.
        with self._engine.connect() as conn:
            conn = conn.execution_options(**WRITE)
            with conn.begin():
                yield conn
