"""Real PostgreSQL 15 for the tests: one server per session, one empty database per test.

Missing PostgreSQL programs make these fixtures fail, never skip: CI must not go green
while quietly leaving the real-server tests out.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.postgres import PostgresServer
from orchestrator.errors import DrError
from orchestrator.local_machine import find_free_port


@pytest.fixture(scope="session")
def postgres_workdir() -> Iterator[Path]:
    """Where the session's servers keep their state directories.

    Not under pytest's tmp_path: those directories are 0700 root, and the postgres
    account must pass through on its way to its data directory.
    """
    base = Path(tempfile.mkdtemp(prefix="dr-test-pg-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(postgres_workdir: Path) -> Iterator[PostgresServer]:
    """A running throwaway server (fsync off) on a free loopback port."""
    server = PostgresServer(
        postgres_workdir / "primary" / "data",
        port=find_free_port(),
        superuser_password=secrets.token_urlsafe(18),
        name="dr-test-primary",
    )
    problem: str | None = None
    try:
        server.init(fast=True)
        server.start()
    except DrError as err:
        problem = err.message
        with contextlib.suppress(DrError):
            server.stop("immediate")
    # Failed outside the except block, so the report is the message, not a traceback chain.
    if problem is not None:
        pytest.fail(f"the real PostgreSQL these tests need is unusable: {problem}", pytrace=False)
    yield server
    server.stop("immediate")


@pytest.fixture
def postgres_db_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database owned by its own password role, as a SQLAlchemy URL.

    The URL authenticates over TCP with SCRAM, exactly as a production ``DR_DB`` would.
    """
    # A test before this one may have stopped the shared server and failed to restart it.
    postgres_server.start()
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres_server.create_role(name, secrets.token_urlsafe(18))
    postgres_server.create_database(name, owner=name)
    yield postgres_server.url(database=name, user=name)
    postgres_server.start()
    postgres_server.drop_database(name)
    postgres_server.drop_role(name)
