"""The restore test boxes in what it runs (issue 17, item 1): the scratch server listens
on its socket only, holds none of our secrets, restores as a non-superuser, runs the
validations read-only as a role that may only read, and restores no dump whose checksum
is wrong."""

from __future__ import annotations

import dataclasses
import socket
import tempfile
from pathlib import Path

import psycopg2
import pytest

from backups import catalog
from backups.actions.init import init_set
from backups.actions.restore_test import restore_test
from backups.actions.run import run_backup
from backups.restore.database import connect, restore_database
from backups.restore.scratch_pg import PREFIX, scratch_dir, scratch_postgres
from tests.integration.test_backups import context
from tests.integration.test_restore_test import (
    credit_db,
    env,
    leftovers,
    own_tempdir,
    write_inventory,
)

pytestmark = pytest.mark.integration

__all__ = ["credit_db", "env", "own_tempdir"]  # fixtures, used by name (own_tempdir: autouse)

SECRET = "dr-secret-that-must-stay-home-31415"


def test_the_scratch_server_is_boxed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DR_HARDEN_SECRET", SECRET)
    with scratch_dir() as root, scratch_postgres(root) as scratch:
        pid = scratch.server.postmaster_pid
        assert pid is not None
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert SECRET.encode() not in environ and b"DR_HARDEN_SECRET" not in environ

        # Nothing on TCP: the port only names the socket file.
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", scratch.port), 2):
            pass
        assert scratch.server.psql("SHOW listen_addresses;").strip() == ""

        scratch.server.create_database("probe", owner=scratch.user)
        with connect(scratch, "probe") as conn, conn.cursor() as cur:
            cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (False,)
            cur.execute("CREATE TABLE t (x int)")
            cur.execute("INSERT INTO t VALUES (1)")
            conn.commit()
        marker = root / "files" / "ran"
        with connect(scratch, "probe", validator=True) as conn:
            conn.set_session(readonly=True)
            for hostile in (
                f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
                "DELETE FROM t",
                "SELECT pg_read_file('/etc/hostname')",
            ):
                with pytest.raises(psycopg2.Error), conn.cursor() as cur:
                    cur.execute(hostile)
                conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM t")  # reading is all it may do
                assert cur.fetchone() == (1,)
        assert not marker.exists()


def test_hostile_validations_change_nothing_and_run_nothing(
    env: Path, credit_db: tuple, tmp_path: Path
) -> None:
    marker = Path(tempfile.gettempdir()) / f"dr-harden-{tmp_path.name}"
    marker.unlink(missing_ok=True)
    validations = [
        {
            "name": "program",
            "sql": f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
            "expect": {"min": 0},
        },
        {"name": "write", "sql": "DELETE FROM accounts RETURNING 1", "expect": {"min": 0}},
        {
            "name": "escape",
            "sql": "COMMIT; SET TRANSACTION READ WRITE; DELETE FROM accounts RETURNING 1",
            "expect": {"min": 0},
        },
        {"name": "still there", "sql": "SELECT count(*) FROM accounts", "expect": {"equals": 3}},
    ]
    inventory = write_inventory(tmp_path, {"restore_test": {"validations": validations}}, credit_db)
    init_set(context(inventory))
    run_backup(context(inventory))

    record = restore_test(context(inventory))

    problems = {v["name"]: v["problem"] for v in record.validations}
    assert problems["still there"] is None
    for name in ("program", "write", "escape"):
        assert problems[name] is not None and "the query failed" in problems[name], problems
    assert not marker.exists()
    assert leftovers() == []


def test_a_dump_with_the_wrong_checksum_is_never_restored(
    env: Path, credit_db: tuple, tmp_path: Path
) -> None:
    inventory = write_inventory(tmp_path, {}, credit_db)
    init_set(context(inventory))
    run_backup(context(inventory))
    ctx = context(inventory)
    session = ctx.session()
    [run] = catalog.runs(catalog.set_snapshots(session, "credit"))
    [part] = catalog.read_manifest(session, run).databases
    tampered = dataclasses.replace(part, dump_digest="0" * 64)

    with scratch_dir() as root, scratch_postgres(root) as scratch:
        outcome = restore_database(session, tampered, scratch)
        with connect(scratch, outcome.scratch_database) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            )
            assert cur.fetchone() == (0,)  # pg_restore never ran
        assert list((root / "dumps").iterdir()) == []  # not kept either
    [problem] = outcome.problems
    assert "differs from the one backed up" in problem and "it was not restored" in problem
    assert not any(p.name.startswith(PREFIX) for p in Path(tempfile.gettempdir()).iterdir())
