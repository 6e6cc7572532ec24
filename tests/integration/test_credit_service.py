"""The lab's credit service, load generator and prober against a real PostgreSQL.

Everything runs on loopback as real subprocesses, as `dr lab up` starts them (there
inside namespaces). Every subprocess a test starts is stopped when it ends.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import make_url

from lab.credit.observe import (
    acknowledged_writes,
    longest_outage,
    lost_writes,
    observed_outages,
)
from lab.credit.reports import ORG_CODE
from lab.credit.schema import (
    create_schema,
    generate_data,
    id_number,
    libpq_dsn,
    loan_count,
    table_checksums,
)
from lab.postgres import PostgresServer
from orchestrator.local_machine import find_free_port as free_tcp_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _poll(condition, timeout: float = 15, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with _HTTP.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


def _status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class Lab:
    """Starts the credit programs as subprocesses and stops every one of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []

    def start(self, module: str, *args: str) -> subprocess.Popen:
        stderr = (self.workdir / f"{module}-{len(self.procs)}.stderr").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", f"lab.credit.{module}", *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        stderr.close()
        self.procs.append(proc)
        return proc

    def service(self, db_url: str, port: int, name: str = "svc") -> subprocess.Popen:
        dsn_file = self.workdir / f"{name}.dsn"
        dsn_file.touch(mode=0o600)
        dsn_file.write_text(db_url)
        proc = self.start(
            "service",
            *("--listen", "127.0.0.1", "--port", str(port), "--dsn-file", str(dsn_file)),
            *("--message-dir", str(self.workdir / f"{name}-messages"), "--lifetime", "120"),
        )

        def answering() -> bool:
            assert proc.poll() is None, "the service exited"
            try:
                _http("GET", f"http://127.0.0.1:{port}/health")
            except OSError:
                return False
            return True

        assert _poll(answering), "the service did not answer within 15 s"
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)


@pytest.fixture
def lab(tmp_path: Path):
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.stop_all()


@pytest.fixture
def small_credit_db(postgres_db_url: str) -> str:
    create_schema(postgres_db_url)
    generate_data(postgres_db_url, loans=200, seed=3)
    return postgres_db_url


def test_schema_and_ten_thousand_loans_are_generated_deterministically(postgres_db_url):
    assert loan_count(postgres_db_url) == 0
    create_schema(postgres_db_url)
    create_schema(postgres_db_url)
    started = time.monotonic()
    counts = generate_data(postgres_db_url, loans=10_000, seed=7)
    generated_s = time.monotonic() - started
    started = time.monotonic()
    sums = table_checksums(postgres_db_url)
    checksum_s = time.monotonic() - started
    print(f"\ngenerate_data(10,000 loans): {generated_s:.2f} s {counts}")
    print(f"table_checksums: {checksum_s:.2f} s")

    assert counts["loans"] == 10_000
    assert counts["borrowers"] == 6_000
    assert 10_000 < counts["repayments"] < 20_000
    assert counts["report_messages"] == 0
    assert loan_count(postgres_db_url) == 10_000
    assert {table: s.rows for table, s in sums.items()} == counts
    # Tables that already hold data are left alone.
    assert generate_data(postgres_db_url, loans=50, seed=99) == counts

    # Same seed, same data: the checksums a restore test compares with.
    _sql(postgres_db_url, "TRUNCATE report_messages, repayments, loans, borrowers")
    generate_data(postgres_db_url, loans=10_000, seed=7)
    assert table_checksums(postgres_db_url) == sums
    _sql(postgres_db_url, "UPDATE loans SET amount = amount + 0.01 WHERE id = 5000")
    changed = table_checksums(postgres_db_url)
    assert changed["loans"].md5 != sums["loans"].md5
    assert changed["borrowers"] == sums["borrowers"]

    # New rows follow the generated ids; id numbers carry a valid GB 11643 check digit.
    row = _sql(
        postgres_db_url,
        "INSERT INTO loans (borrower_id, amount, rate, term_months, branch)"
        " VALUES (1, 1000, 0.05, 12, 'branch-1') RETURNING id",
    )
    assert row == [(10_001,)]
    assert id_number("110105", datetime(1949, 12, 31), 2) == "11010519491231002X"


def test_service_writes_and_is_healthy_only_on_a_writable_primary(
    lab, small_credit_db, postgres_server, postgres_workdir
):
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    lab.service(small_credit_db, port)
    assert _http("GET", f"{base}/health") == (200, {"ok": True, "role": "primary"})

    status, loan = _http("POST", f"{base}/loans", {"amount": "12345.67", "branch": "branch-1"})
    assert status == 201, loan
    assert _sql(small_credit_db, "SELECT amount::text FROM loans WHERE id = %s", (loan["id"],)) == [
        ("12345.67",)
    ]
    message = lab.workdir / "svc-messages" / loan["message_file"]
    line = message.read_text(encoding="utf-8")
    assert line.startswith("LOAN_OPEN|") and f"|{loan['id']}|" in line and "|12345.67|" in line
    assert _sql(
        small_credit_db, "SELECT kind FROM report_messages WHERE file_name = %s", (message.name,)
    ) == [("loan_open",)]

    status, repayment = _http("POST", f"{base}/repayments", {"loan_id": loan["id"], "amount": 100})
    assert status == 201, repayment
    repayment_line = (lab.workdir / "svc-messages" / repayment["message_file"]).read_text()
    assert repayment_line == (
        f"REPAYMENT|{ORG_CODE}|{repayment['id']}|{loan['id']}|100.00|{repayment['row_at']}\n"
    )
    status, shown = _http("GET", f"{base}/loans/{loan['id']}")
    assert (status, shown["amount"], shown["repaid"]) == (200, "12345.67", "100.00")
    status, stats = _http("GET", f"{base}/stats")
    assert (status, stats["loans"], stats["in_recovery"]) == (200, 201, False)
    assert _http("POST", f"{base}/loans", {"amount": "-1"})[0] == 400
    assert _http("POST", f"{base}/repayments", {"loan_id": 10**9, "amount": 1})[0] == 404
    assert _http("GET", f"{base}/loans/{10**9}")[0] == 404

    # The database stops: unhealthy and no acknowledgement; it returns: healthy again.
    postgres_server.stop("fast")
    try:
        status, health = _http("GET", f"{base}/health")
        assert (status, health["ok"], health["role"]) == (503, False, "unreachable")
        assert _http("POST", f"{base}/loans", {"amount": "10.00"})[0] == 503
    finally:
        postgres_server.start()
    assert _http("GET", f"{base}/health")[0] == 200

    # A real streaming standby answers reads but must never look like the writer.
    replicator, password = f"repl_{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
    postgres_server.create_role(replicator, password, replication=True)
    standby = PostgresServer(
        postgres_workdir / f"standby-{uuid.uuid4().hex[:8]}" / "data",
        port=free_tcp_port(),
        name="dr-test-credit-standby",
    )
    try:
        started = time.monotonic()
        standby.init_standby_from(postgres_server, replicator, password)
        standby.start()
        print(f"\nstandby ready in {time.monotonic() - started:.2f} s")
        standby_port = free_tcp_port()
        standby_url = make_url(small_credit_db).set(port=standby.port)
        lab.service(standby_url.render_as_string(hide_password=False), standby_port, "standby")
        standby_base = f"http://127.0.0.1:{standby_port}"
        assert _http("GET", f"{standby_base}/health") == (503, {"ok": False, "role": "standby"})
        assert _http("GET", f"{standby_base}/loans/{loan['id']}")[0] == 200
        assert _http("POST", f"{standby_base}/loans", {"amount": "10.00"})[0] == 503
    finally:
        standby.stop("immediate")
        postgres_server.drop_role(replicator)


def test_an_outage_is_observed_and_lost_writes_are_found(lab, small_credit_db):
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    observe_dir = lab.workdir / "observe"
    prober_log, prober_status = observe_dir / "prober.jsonl", observe_dir / "prober.json"
    loadgen_log, loadgen_status = observe_dir / "loadgen.jsonl", observe_dir / "loadgen.json"
    service = lab.service(small_credit_db, port)
    prober = lab.start(
        "prober",
        *("--url", f"{base}/health", "--interval", "0.1", "--name", "branch-1"),
        *("--log", str(prober_log), "--status", str(prober_status), "--lifetime", "60"),
    )
    loadgen = lab.start(
        "loadgen",
        *("--url", base, "--rate", "20", "--log", str(loadgen_log)),
        *("--status", str(loadgen_status), "--lifetime", "60", "--max-writes", "2000"),
    )
    assert _poll(lambda: _status(loadgen_status).get("acked", 0) >= 10)
    assert _poll(lambda: _status(prober_status).get("state") == "up")

    lab.stop(service, signal.SIGKILL)
    time.sleep(1.0)
    lab.service(small_credit_db, port)
    acked_before = _status(loadgen_status)["acked"]
    assert _poll(lambda: _status(loadgen_status).get("acked", 0) >= acked_before + 10)
    lab.stop(loadgen)
    lab.stop(prober)

    outages = observed_outages(prober_log)
    print(f"\nprober outage: {outages[0].seconds:.2f} s")
    assert len(outages) == 1 and outages[0].resolved
    assert 0.9 <= outages[0].seconds <= 4.0
    assert longest_outage(prober_log) == outages[0]
    assert _status(prober_status)["outages"] == 1
    status = _status(loadgen_status)
    print(f"loadgen: {status}")
    assert status["failed"] > 0 and status["current_state"] == "working"
    assert 0.5 <= status["longest_failure_s"] <= 5.0 and status["running"] is False
    events = [json.loads(line)["event"] for line in loadgen_log.read_text().splitlines()]
    assert events.count("failing") == 1 and events.count("working") == 2  # first ack too

    acked = acknowledged_writes(loadgen_log)
    assert len(acked) == status["acked"]
    assert not lost_writes(loadgen_log, small_credit_db)

    # Rows vanish behind the service's back; one id is reused by a different row.
    loans = [w for w in acked if w.kind == "loan"]
    loan_ids = [w.id for w in loans]
    unpaid = _sql(
        small_credit_db,
        "SELECT id FROM loans l WHERE id = ANY(%s) AND NOT EXISTS"
        " (SELECT 1 FROM repayments r WHERE r.loan_id = l.id) ORDER BY id LIMIT 3",
        (loan_ids,),
    )
    deleted_loans = [row[0] for row in unpaid]
    deleted_repayments = [w.id for w in acked if w.kind == "repayment"][:2]
    reused = next(i for i in loan_ids if i not in deleted_loans)
    _sql(small_credit_db, "DELETE FROM report_messages WHERE loan_id = ANY(%s)", (deleted_loans,))
    _sql(small_credit_db, "DELETE FROM loans WHERE id = ANY(%s)", (deleted_loans,))
    _sql(small_credit_db, "DELETE FROM repayments WHERE id = ANY(%s)", (deleted_repayments,))
    _sql(small_credit_db, "UPDATE loans SET issued_at = now() WHERE id = %s", (reused,))

    lost = lost_writes(loadgen_log, small_credit_db)
    expected = {("loan", i) for i in [*deleted_loans, reused]}
    expected |= {("repayment", i) for i in deleted_repayments}
    assert len(deleted_loans) == 3 and len(deleted_repayments) == 2
    assert {(w.kind, w.id) for w in lost} == expected and len(lost) == 6
    assert lost.first_acked_at <= lost.last_acked_at
    assert lost.seconds == (lost.last_acked_at - lost.first_acked_at).total_seconds()
    before_any = acked[0].acked_at - timedelta(microseconds=1)
    assert not lost_writes(loadgen_log, small_credit_db, until=before_any)
    assert os.path.getsize(loadgen_log) > 0
