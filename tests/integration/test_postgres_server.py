"""A real PostgreSQL 15 server: SQL through the URL, restart, stop, streaming replication."""

from __future__ import annotations

import secrets
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from lab.postgres import PostgresLabError, PostgresServer
from orchestrator.local_machine import find_free_port, process_is_running
from orchestrator.postgresql.errors import PortInUse, PostgresError

pytestmark = pytest.mark.integration


def _server_pids(server: PostgresServer) -> set[int]:
    """The postmaster and every process it started (checkpointer, walwriter, backends)."""
    postmaster = server.postmaster_pid
    assert postmaster is not None
    pids = {postmaster}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.add(int(stat_file.parent.name))
    return pids


def _poll(condition, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_sql_works_through_the_url_with_a_password(postgres_db_url):
    engine = create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE ledger (id int PRIMARY KEY, note text)"))
            conn.execute(text("INSERT INTO ledger VALUES (1, '征信报送')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT note FROM ledger")).scalar_one() == "征信报送"
            assert conn.execute(text("SELECT current_user")).scalar_one() == (
                make_url(postgres_db_url).username
            )
    finally:
        engine.dispose()
    wrong = make_url(postgres_db_url).set(password="not-the-password")
    with pytest.raises(OperationalError, match="password authentication failed"):
        create_engine(wrong).connect()


def test_restart_keeps_data_and_stop_leaves_no_process(postgres_server, postgres_db_url):
    engine = create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE kept (v text)"))
            conn.execute(text("INSERT INTO kept VALUES ('before restart')"))
        engine.dispose()
        pids = _server_pids(postgres_server)
        assert len(pids) > 3

        postgres_server.stop()
        postgres_server.stop()
        assert not postgres_server.is_running
        assert [pid for pid in pids if process_is_running(pid)] == []

        postgres_server.start()
        postgres_server.start()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT v FROM kept")).scalar_one() == "before restart"
    finally:
        engine.dispose()


def test_psql_returns_output_and_reports_errors(postgres_server):
    assert postgres_server.psql("SELECT 1 + 1").strip() == "2"
    with pytest.raises(PostgresError, match="no_such_table"):
        postgres_server.psql("SELECT * FROM no_such_table")


def test_a_port_already_in_use_is_a_clear_error(postgres_server, postgres_workdir):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        blocked = PostgresServer(postgres_workdir / "blocked" / "data", port=port)
        with pytest.raises(PortInUse, match=rf"127\.0\.0\.1:{port} is already in use"):
            blocked.start()
    # The same when the squatter is another PostgreSQL.
    clash = PostgresServer(postgres_workdir / "clash" / "data", port=postgres_server.port)
    with pytest.raises(PortInUse, match="another port"):
        clash.start()


def test_streaming_standby_replicates_reports_lag_and_promotes(
    postgres_server, postgres_db_url, postgres_workdir
):
    primary = postgres_server
    database = make_url(postgres_db_url).database
    replicator, password = f"repl_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
    primary.create_role(replicator, password, replication=True)
    standby = PostgresServer(
        postgres_workdir / f"standby-{uuid.uuid4().hex[:8]}" / "data",
        port=find_free_port(),
        name="dr-test-standby",
    )
    engine = create_engine(postgres_db_url)
    try:
        standby.init_standby_from(primary, replicator, password)
        standby.init_standby_from(primary, replicator, password)
        recovery_conf = (standby.data_dir / "postgresql.auto.conf").read_text()
        assert "passfile=" in recovery_conf
        assert password not in recovery_conf
        standby.start()
        assert standby.is_standby

        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE ledger (id int PRIMARY KEY)"))
            conn.execute(text("INSERT INTO ledger VALUES (1)"))

        def replicated() -> bool:
            try:
                return standby.psql("SELECT count(*) FROM ledger", database).strip() == "1"
            except PostgresError:
                return False

        assert _poll(replicated)
        replicas = primary.replication_status()
        assert [(r.application_name, r.state) for r in replicas] == [
            ("dr-test-standby", "streaming")
        ]
        assert _poll(lambda: standby.replay_lag() == timedelta(0))
        replayed_at = standby.last_replay_timestamp()
        assert replayed_at is not None
        assert abs(datetime.now(UTC) - replayed_at) < timedelta(minutes=1)
        with pytest.raises(PostgresError, match="read-only"):
            standby.psql("INSERT INTO ledger VALUES (2)", database)

        standby.promote()
        standby.promote()
        assert not standby.is_standby
        standby.psql("INSERT INTO ledger VALUES (2)", database)
        assert standby.psql("SELECT count(*) FROM ledger", database).strip() == "2"
        assert standby.last_replay_timestamp() == replayed_at
        with pytest.raises(PostgresLabError, match="not a standby"):
            standby.replay_lag()

        pids = _server_pids(standby)
        standby.stop("immediate")
        assert not standby.is_running
        assert [pid for pid in pids if process_is_running(pid)] == []
    finally:
        engine.dispose()
        standby.stop("immediate")
        primary.drop_role(replicator)
