"""Row-by-row comparison of a copy and a live database, and putting destroyed rows back:
on a real PostgreSQL 15, with foreign keys, identity and generated columns, and a table
without a primary key. The copy is a database cloned from the live one (CREATE DATABASE
... TEMPLATE), which is what a copy restored to before a bad statement looks like."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from orchestrator.local_machine import find_free_port
from orchestrator.postgresql.local_cluster import LocalCluster
from orchestrator.postgresql.row_diff import compare
from orchestrator.postgresql.row_restore import put_back_rows

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE TABLE borrowers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
CREATE TABLE loans (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    borrower_id bigint NOT NULL REFERENCES borrowers(id),
    amount numeric(12,2) NOT NULL,
    amount_cents bigint GENERATED ALWAYS AS ((amount * 100)::bigint) STORED
);
CREATE TABLE repayments (
    loan_id bigint NOT NULL REFERENCES loans(id),
    seq int NOT NULL,
    amount numeric(12,2) NOT NULL,
    PRIMARY KEY (loan_id, seq)
);
CREATE TABLE audit_log (line text);
INSERT INTO borrowers (name) SELECT 'borrower ' || g FROM generate_series(1, 200) g;
INSERT INTO loans (borrower_id, amount) SELECT 1 + g % 200, g * 10 FROM generate_series(1, 2000) g;
INSERT INTO repayments SELECT l.id, s, 5 FROM loans l, generate_series(1, 3) s;
INSERT INTO audit_log VALUES ('created');
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="dr-test-rowdiff-"))
    base.chmod(0o711)
    server = LocalCluster(base / "server" / "data", port=find_free_port(), name="dr-test-rowdiff")
    server.init(fast=True)
    server.start()
    server.create_role("credit_app", "rowdiff-App-73", superuser=True)
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def _dsn(cluster: LocalCluster, database: str) -> str:
    return cluster.url(database, user="credit_app").replace(
        "postgresql+psycopg2://", "postgresql://"
    )


def _run(dsn: str, statements: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statements)
    finally:
        conn.close()


def _scalar(dsn: str, query: str) -> object:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_compare_counts_and_put_back_restores_destroyed_rows(cluster: LocalCluster) -> None:
    cluster.create_database("live")
    live = _dsn(cluster, "live")
    _run(live, SCHEMA)
    cluster.psql("CREATE DATABASE copy TEMPLATE live")
    copy = _dsn(cluster, "copy")
    # The bad statements, then honest work after them.
    _run(
        live,
        "DELETE FROM repayments WHERE loan_id % 10 = 0;"
        "DELETE FROM loans WHERE id % 10 = 0;"
        "UPDATE loans SET amount = 0 WHERE id % 10 = 1;"
        "INSERT INTO loans (borrower_id, amount) VALUES (1, 99), (2, 98);",
    )

    before = compare(copy, live)
    by_table = {t.table: t for t in before.tables}
    assert by_table["public.loans"].removed == 200
    assert by_table["public.loans"].changed == 200
    assert by_table["public.loans"].added == 2
    assert by_table["public.repayments"].removed == 600
    assert not by_table["public.borrowers"].differs
    assert before.unkeyed == ["public.audit_log"]

    put = put_back_rows(copy, live)
    assert {p.table: p.inserted for p in put} == {"public.loans": 200, "public.repayments": 600}
    # Parents went in before children, identity values kept, generated columns recomputed.
    assert _scalar(live, "SELECT amount_cents FROM loans WHERE id = 10") == 10000
    after = compare(copy, live)
    assert after.removed == 0
    assert after.changed == 200  # not asked to write changed rows back
    assert after.added == 2  # the honest work after the error is kept

    again = put_back_rows(copy, live, changed=True)
    assert {p.table: p.updated for p in again} == {"public.loans": 200}
    assert compare(copy, live).changed == 0
    assert _scalar(live, "SELECT count(*) FROM loans") == 2002


def test_put_back_is_all_or_nothing(cluster: LocalCluster) -> None:
    cluster.create_database("live2")
    live = _dsn(cluster, "live2")
    _run(live, SCHEMA)
    cluster.psql("CREATE DATABASE copy2 TEMPLATE live2")
    copy = _dsn(cluster, "copy2")
    _run(live, "DELETE FROM repayments WHERE loan_id <= 5; DELETE FROM loans WHERE id <= 5;")
    # A trigger that refuses repayments makes the second table fail: loans must not stay.
    _run(
        live,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'refused'; END$$;"
        "CREATE TRIGGER refuse BEFORE INSERT ON repayments FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    with pytest.raises(psycopg2.Error):
        put_back_rows(copy, live)
    assert _scalar(live, "SELECT count(*) FROM loans WHERE id <= 5") == 0
