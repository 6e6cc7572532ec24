"""On a real PostgreSQL, `dr journal setup-postgres` makes events append-only: the writer
role may insert and read them only, and a trigger refuses UPDATE and DELETE even to the
tables' owner. dr itself keeps working as the writer."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from orchestrator.journal import Journal
from orchestrator.journal.key import JournalKey

pytestmark = pytest.mark.integration

KEY = JournalKey(bytes(range(32)), "test")


def _refused(url: str, statement: str) -> str:
    engine = create_engine(url)
    try:
        with engine.begin() as conn, pytest.raises(DBAPIError) as refused:
            conn.execute(text(statement))
        return str(refused.value)
    finally:
        engine.dispose()


def test_setup_postgres_refuses_update_and_delete_of_events_to_writer_and_owner(
    postgres_server, postgres_db_url
):
    owner = Journal(postgres_db_url, KEY)
    owner.append("note", data={"n": 1})
    owner.close()
    writer, password = f"w_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    postgres_server.create_role(writer, password)
    env = {**os.environ, "DR_DB": postgres_db_url}
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "journal", "setup-postgres",
         "--writer", writer],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no UPDATE, DELETE, TRUNCATE" in result.stdout

    # The owner: the trigger refuses, whatever the grants.
    said = _refused(postgres_db_url, "UPDATE events SET actor = 'mallory' WHERE seq = 1")
    assert "events are append-only (UPDATE refused)" in said
    said = _refused(postgres_db_url, "DELETE FROM events WHERE seq = 1")
    assert "events are append-only (DELETE refused)" in said
    said = _refused(postgres_db_url, "TRUNCATE events")
    assert "append-only (TRUNCATE refused)" in said

    # The writer: no privilege to change events at all, yet dr goes on writing as it.
    parsed = make_url(postgres_db_url)
    writer_url = parsed.set(username=writer, password=password).render_as_string(
        hide_password=False
    )
    said = _refused(writer_url, "UPDATE events SET actor = 'mallory' WHERE seq = 1")
    assert "permission denied" in said
    said = _refused(writer_url, "DELETE FROM events")
    assert "permission denied" in said
    journal = Journal(writer_url, KEY)
    journal.append("note", data={"n": 2})
    verdict = journal.verify()
    assert verdict.ok and verdict.checked == 2 and verdict.keyed
    journal.close()
    postgres_server.start()
    engine = create_engine(postgres_db_url)
    with engine.begin() as conn:  # a role with grants left cannot be dropped
        conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{writer}"'))
        conn.execute(text(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{writer}"'))
    engine.dispose()
    postgres_server.drop_role(writer)
