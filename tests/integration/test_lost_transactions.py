"""Lost transactions (issue 18, item 1) on two real PostgreSQL 15 servers, without the lab.

A primary streams to a standby; the standby is promoted (a cutover) while the old
primary goes on acknowledging writes for a while, as an asynchronous one does when the
network, not the host, failed. The old primary is then started read-only on its own
timeline (what rebuild-standby does before it rewinds), and the comparison with the new
primary must list exactly the rows only the old timeline holds: missing ones, one whose
id the new primary handed to a later loan, and a lost update apart, as changed. Then the
old cluster must still rewind onto the new primary: reading it first costs the rebuild
nothing. The credit database is over 100 MB, with a day's business lost (5,000 writes).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from lab.credit.schema import create_schema, generate_data, libpq_dsn
from lab.lab_inventory import CREDIT_TRANSACTIONS
from lab.postgres import PostgresServer
from orchestrator.inventory.transactions import TransactionTable
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.replication import pgpass_line
from orchestrator.postgresql.timeline_diff import compare_timelines

pytestmark = pytest.mark.integration
TABLES = [TransactionTable.model_validate(t) for t in CREDIT_TRANSACTIONS]
LOST_LOANS = 4000  # with 1,000 repayments: a county union's busy day, all lost
BRANCHES = ("branch-1", "branch-2", "branch-3")


def _server(workdir: Path, role: str, superuser_password: str) -> PostgresServer:
    return PostgresServer(
        workdir / f"{role}-{uuid.uuid4().hex[:8]}" / "data",
        port=find_free_port(),
        superuser_password=superuser_password,
        name=f"dr-test-{role}",
    )


def _sql(server: PostgresServer, statement: str, params: tuple[object, ...] = ()) -> list:
    with psycopg2.connect(libpq_dsn(server.url("credit"))) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def split_pair(postgres_workdir: Path) -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """An old primary and a promoted standby whose histories split a moment ago."""
    # One superuser password: the standby's copy of the cluster holds the old one's.
    superuser_password = secrets.token_urlsafe(18)
    old = _server(postgres_workdir, "old", superuser_password)
    new = _server(postgres_workdir, "new", superuser_password)
    try:
        old.init(fast=True)
        old.start()
        old.create_database("credit")
        create_schema(old.url("credit"))
        generate_data(old.url("credit"), loans=5000, seed=18)
        # Older business, kept for years: what makes the database a county union's size.
        _sql(
            old,
            "CREATE TABLE ledger_history AS SELECT g AS id, md5(g::text) AS digest,"
            " repeat('x', 200) AS note FROM generate_series(1, 420000) g",
        )
        size = int(_sql(old, "SELECT pg_database_size('credit')")[0][0])
        assert size > 100 * 1024 * 1024
        replicator, password = "replicator", secrets.token_urlsafe(18)
        old.create_role(replicator, password, replication=True)
        old.allow_rewind(replicator)
        new.init_standby_from(old, replicator, password)
        new.start()
        newest = _sql(old, "SELECT max(id) FROM loans")[0][0]
        assert wait_until(
            lambda: _sql(new, "SELECT max(id) FROM loans")[0][0] == newest, timeout=60
        )
        new.promote()
        endpoint = new.endpoint
        old.store_upstream_password(pgpass_line(endpoint.host, endpoint.port, replicator, password))
        yield old, new
    finally:
        new.stop("immediate")
        old.stop("immediate")


def _write_lost_day(old: PostgresServer) -> dict[tuple[str, str], str]:
    """Business only the old timeline gets; returns (kind, key) -> branch."""
    expected: dict[tuple[str, str], str] = {}
    start = datetime.now(UTC) - timedelta(hours=8)
    rows = []
    for n in range(LOST_LOANS):
        loan_id, branch = 900_000 + n, BRANCHES[n % len(BRANCHES)]
        at = start + timedelta(seconds=7 * n)
        rows.append((loan_id, 1, f"{1000 + n}.50", "0.0435", 12, branch, at, at))
        expected[("loan", str(loan_id))] = branch
    with psycopg2.connect(libpq_dsn(old.url("credit"))) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO loans (id, borrower_id, amount, rate, term_months, branch, issued_at,"
            " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        payments = [(950_000 + n, 900_000 + 4 * n, "88.00", start) for n in range(1000)]
        cur.executemany(
            "INSERT INTO repayments (id, loan_id, amount, paid_at) VALUES (%s, %s, %s, %s)",
            payments,
        )
        # A lost update: a loan the new primary also has, settled only on the old side.
        cur.execute("UPDATE loans SET status = 'settled', updated_at = now() WHERE id = 7")
    for repayment_id, loan_id, _, _ in payments:
        expected[("repayment", str(repayment_id))] = expected[("loan", str(loan_id))]
    return expected


def test_the_old_timelines_own_writes_are_listed_before_a_rewind(split_pair) -> None:
    old, new = split_pair
    expected = _write_lost_day(old)
    # After the split the new primary hands one of those ids to another loan: that old
    # loan is lost all the same, though its id is there.
    later = datetime.now(UTC)
    _sql(
        new,
        "INSERT INTO loans (id, borrower_id, amount, rate, term_months, branch, issued_at)"
        " VALUES (900003, 2, 77.00, 0.04, 6, 'branch-9', %s), (990001, 2, 5.00, 0.04, 6,"
        " 'branch-9', %s)",
        (later, later),
    )

    old.stop("fast")
    old.start_read_only()
    status = old.standby_status()
    assert status.in_recovery  # read-only, on its own timeline, whatever connects
    with pytest.raises(Exception, match="read-only"):
        _sql(old, "INSERT INTO borrowers (name, id_number, phone, branch) VALUES"
             " ('x', '110101199001011234', '1', 'b')")  # fmt: skip

    diff = compare_timelines(
        libpq_dsn(old.url("credit")), libpq_dsn(new.url("credit")), TABLES, timedelta(hours=24)
    )
    listed = {(row.kind, row.key): row.branch for row in diff.lost}
    assert listed == expected
    reasons = {(row.kind, row.key): row.reason for row in diff.lost}
    assert reasons[("loan", "900003")] == "replaced"
    assert sum(1 for r in reasons.values() if r == "missing") == len(expected) - 1
    assert ("loan", "990001") not in listed  # the new timeline's own business is not lost
    # Amounts and branches come from the rows; repayments take their loan's branch.
    by_branch = diff.by_branch()
    assert set(by_branch) == set(BRANCHES)
    loan = next(row for row in diff.lost if row.key == "900001")
    assert str(loan.amount) == "1001.50" and loan.branch == "branch-2"
    # The window: a day back from the old side's newest write, so the years-old loan 7
    # is outside it; a longer look finds its lost update, as changed, not lost.
    assert diff.changed == []
    wide = compare_timelines(
        libpq_dsn(old.url("credit")), libpq_dsn(new.url("credit")), TABLES, timedelta(days=3650)
    )
    assert [(row.kind, row.key, row.reason) for row in wide.changed] == [("loan", "7", "changed")]
    assert {(row.kind, row.key) for row in wide.lost} == set(expected)
    assert wide.compared["loan"] > 5000

    # Read first, rewind after: the read-only start leaves a cluster pg_rewind accepts.
    old.stop("fast")
    old.rewind_from(new.endpoint, "replicator")
    old.start()
    assert wait_until(lambda: old.standby_status().in_recovery, timeout=30)
    gone = "SELECT count(*) FROM loans WHERE id BETWEEN 900000 AND 900100 AND branch <> 'branch-9'"
    assert wait_until(lambda: _sql(old, gone)[0][0] == 0, timeout=30)
