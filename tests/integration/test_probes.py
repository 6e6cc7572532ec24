"""The pair's probes against the lab's real credit service and a real PostgreSQL.

The http and sql probes must leave the business data as it was; the test-write probe
adds only a row the service flags as a test, with no report message. The probe script
runs as `ctx.local` runs it: `python -c SCRIPT ARGS` in a process of its own.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from sqlalchemy import URL, make_url

from lab.credit.schema import create_schema, generate_data, libpq_dsn
from orchestrator.errors import EXIT_FAILED, StepFailed
from orchestrator.inventory import HostPair
from orchestrator.local_machine import find_free_port
from orchestrator.postgresql import read_only
from orchestrator.postgresql.errors import PostgresError
from runbooks import _probes

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TABLES = ("borrowers", "loans", "repayments", "report_messages")


def _counts(url: str) -> dict[str, int]:
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn.cursor() as cursor:
            counts = {}
            for table in TABLES:
                cursor.execute(f"SELECT count(*) FROM {table}")
                counts[table] = cursor.fetchone()[0]
            return counts
    finally:
        conn.close()


def _test_loans(url: str) -> list[tuple[str, object]]:
    conn = psycopg2.connect(libpq_dsn(url))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT branch, amount FROM loans WHERE branch LIKE 'test:%'")
            return cursor.fetchall()
    finally:
        conn.close()


class CreditService:
    """The lab's credit service as a real subprocess on loopback."""

    def __init__(self, workdir: Path, db_url: str) -> None:
        self.port = find_free_port()
        self.messages = workdir / "messages"
        dsn_file = workdir / "svc.dsn"
        dsn_file.touch(mode=0o600)
        dsn_file.write_text(db_url)
        self.stderr = (workdir / "service.stderr").open("w")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "lab.credit.service", "--listen", "127.0.0.1"),
                *("--port", str(self.port), "--dsn-file", str(dsn_file)),
                *("--message-dir", str(self.messages), "--lifetime", "120"),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the credit service exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the credit service did not answer within 15 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.stderr.close()


@pytest.fixture
def credit_db(postgres_db_url: str) -> str:
    create_schema(postgres_db_url)
    generate_data(postgres_db_url, loans=50, seed=5)
    return postgres_db_url


@pytest.fixture
def credit_service(tmp_path: Path, credit_db: str) -> Iterator[CreditService]:
    service = CreditService(tmp_path, credit_db)
    try:
        yield service
    finally:
        service.stop()


def _pair(
    db_url: str, port: int, probe: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> HostPair:
    url = make_url(db_url)
    monkeypatch.setenv("DR_TEST_PROBE_PASSWORD", str(url.password))
    return HostPair.model_validate(_pair_document(url, port, probe))


def _pair_document(url: URL, port: int, probe: dict[str, object]) -> dict[str, object]:
    """The pair both ways of testing use: its service on `port`, its database at `url`
    (password from DR_TEST_PROBE_PASSWORD)."""
    return {
        "name": "credit",
        "service": "credit-report",
        "primary": "dc-a",
        "standby": "dc-b",
        "vip": "127.0.0.1/32",
        "service_url": f"http://127.0.0.1:{port}/health",
        "database": {
            "port": url.port,
            "name": url.database,
            "user": url.username,
            "password": "env:DR_TEST_PROBE_PASSWORD",
        },
        "probe": probe,
    }


def _run_script(pair: HostPair) -> dict[str, object]:
    """What `ctx.local` runs for a probe from this machine."""
    arguments = json.dumps(_probes.script_arguments(pair))
    result = subprocess.run(
        [sys.executable, "-c", _probes.PROBE_SCRIPT, arguments],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_http_probe_reads_the_health_url_and_writes_nothing(credit_service, credit_db, monkeypatch):
    before = _counts(credit_db)
    pair = _pair(credit_db, credit_service.port, {"kind": "http"}, monkeypatch)
    verdict = _probes.judge(pair, _run_script(pair))
    assert verdict.ok, verdict.detail
    assert verdict.sentence("en") == "GET answered 200"
    assert verdict.sentence("zh") == "GET 返回 200"

    wanting = _pair(
        credit_db,
        credit_service.port,
        {"kind": "http", "expect_body": '"role": "standby"'},
        monkeypatch,
    )
    refused = _probes.judge(wanting, _run_script(wanting))
    assert not refused.ok and "without" in refused.sentence("en")
    assert "但内容中没有" in refused.sentence("zh")
    assert _counts(credit_db) == before


def test_sql_probe_reads_a_row_and_writes_nothing(credit_db, monkeypatch):
    before = _counts(credit_db)
    query = {"kind": "sql", "query": "SELECT count(*) FROM loans"}
    pair = _pair(credit_db, find_free_port(), query, monkeypatch)
    verdict = _probes.sql_verdict(pair)
    assert verdict.ok, verdict.detail
    database = make_url(credit_db).database
    assert f"from {database} at 127.0.0.1" in verdict.sentence("en")
    assert f"上的 {database} 返回了一行" in verdict.sentence("zh")
    assert _counts(credit_db) == before


def test_the_sql_probe_session_refuses_a_write_hidden_in_a_read_query(credit_db, monkeypatch):
    # A data-modifying WITH passes the "starts with a read" rule; the server refuses it.
    pair = _pair(credit_db, find_free_port(), {"kind": "sql"}, monkeypatch)
    server = _probes.database_server(pair)
    before = _counts(credit_db)
    with pytest.raises(PostgresError, match="read-only transaction"):
        read_only.first_row(
            server,
            "WITH gone AS (DELETE FROM report_messages RETURNING 1) SELECT count(*) FROM gone",
        )
    assert _counts(credit_db) == before
    empty = read_only.first_row(server, "SELECT 1 WHERE false")
    assert empty is None


def test_test_write_adds_one_flagged_row_and_no_report_message(
    credit_service, credit_db, monkeypatch
):
    before = _counts(credit_db)
    probe = {"kind": "test-write", "account": "dr-probe"}
    pair = _pair(credit_db, credit_service.port, probe, monkeypatch)
    out = _run_script(pair)
    verdict = _probes.judge(pair, out)
    assert verdict.ok, (verdict.detail, out)
    assert out["write_is_test"] is True and out["read_is_test"] is True

    after = _counts(credit_db)
    assert after["loans"] == before["loans"] + 1
    assert after["report_messages"] == before["report_messages"]
    assert [branch for branch, _ in _test_loans(credit_db)] == ["test:dr-probe"]
    assert not credit_service.messages.exists() or not any(credit_service.messages.iterdir())


def test_an_account_the_service_did_not_designate_writes_nothing(
    credit_service, credit_db, monkeypatch
):
    before = _counts(credit_db)
    pair = _pair(
        credit_db,
        credit_service.port,
        {"kind": "test-write", "account": "someone-else"},
        monkeypatch,
    )
    out = _run_script(pair)
    verdict = _probes.judge(pair, out)
    assert not verdict.ok and out["write"] == 403
    assert _counts(credit_db) == before


class _UnmarkingService(BaseHTTPRequestHandler):
    """A service that takes the test account's write as business: no is_test."""

    def do_GET(self) -> None:
        self._answer(200, {"ok": True, "id": 7})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201, {"id": 7})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_write_the_service_does_not_mark_as_test_stops_the_run(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _UnmarkingService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"postgresql://u:p@127.0.0.1:{find_free_port()}/credit"
        probe = {"kind": "test-write", "account": "dr-probe"}
        pair = _pair(url, server.server_address[1], probe, monkeypatch)
        out = _run_script(pair)
        with pytest.raises(StepFailed, match="did not mark it as a test"):
            _probes.judge(pair, out)
    finally:
        server.shutdown()
        server.server_close()


_PROBE_RUNBOOK = """
from orchestrator.runbook import Runbook
from runbooks import _probes

rb = Runbook("probe-case", title="probe case")


@rb.check("verify-end-to-end", title="verify")
def verify(ctx):
    return _probes.verify_service(ctx, ctx.inventory.host_pairs[0], [])
"""


def _drill_with_probe(
    tmp_path: Path, db_url: str, port: int, probe: dict[str, object]
) -> tuple[dict[str, Any], list[Any]]:
    """`dr drill` of a one-step runbook that verifies with the pair's probe, through a real
    engine: ctx.local runs the script, the journal records it."""
    from orchestrator.journal import Journal

    journal_url = f"sqlite:///{tmp_path}/journal.sqlite3"
    result = _probe_drill(tmp_path, db_url, port, probe, "--json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    doc = json.loads(result.stdout)
    return doc, Journal(journal_url).events(doc["id"])


def _probe_drill(
    tmp_path: Path, db_url: str, port: int, probe: dict[str, object], *options: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "books").mkdir(exist_ok=True)
    (tmp_path / "books" / "probe_case.py").write_text(_PROBE_RUNBOOK)
    url = make_url(db_url)
    inventory = {
        "name": "probe-drill",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": "dc-a", "address": "127.0.0.11", "site": "dc"},
            {"name": "dc-b", "address": "127.0.0.12", "site": "dc"},
        ],
        "host_pairs": [_pair_document(url, port, probe)],
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    journal_url = f"sqlite:///{tmp_path}/journal.sqlite3"
    env = {
        **os.environ,
        "DR_DB": journal_url,
        "DR_LANG": "en",
        "DR_RUNBOOKS": str(tmp_path / "books"),
        "DR_TEST_PROBE_PASSWORD": str(url.password),
    }
    return subprocess.run(
        [
            *(sys.executable, "-m", "orchestrator.cli.main", "drill", "probe-case"),
            *("-i", str(path), *options),
        ],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", ["http", "sql"])
def test_a_drill_names_its_probe_and_the_probe_writes_nothing(
    tmp_path, credit_service, credit_db, kind
):
    before = _counts(credit_db)
    probe = {"kind": "http", "vantage": "orchestrator"} if kind == "http" else {"kind": "sql"}
    doc, events = _drill_with_probe(tmp_path, credit_db, credit_service.port, probe)
    (step,) = doc["steps"]
    assert step["status"] == "succeeded"
    assert step["result"]["detail"].startswith(f"[probe: {kind}]")
    facts = [e.data for e in events if e.kind == "fact"]
    assert {"key": "probe_kind", "value": kind} in facts
    if kind == "http":  # run on this machine through ctx.local, journaled as a command
        commands = [e.data for e in events if e.kind == "command"]
        assert [c["transport"] for c in commands] == ["local"]
    else:
        (record,) = [e.data for e in events if e.kind == "probe"]
        assert record == {"kind": "sql", "query": "SELECT 1", "ok": True}
    assert _counts(credit_db) == before


def _cells(stdout: str) -> str:
    """The result table's words without its borders and wrapping."""
    return " ".join(re.sub(r"[│┃┏┓┗┛┡┩└┘┌┐━─┳┻╇╈┼┬┴]", " ", stdout).split())


def test_a_duty_operator_reads_the_probe_verdict_in_chinese(tmp_path, credit_service, credit_db):
    """`--lang zh` (issue 19): the end-to-end check's verdict, passed or failed, is said in
    Chinese in the run's table; the journal keeps the English under `detail`/`error`."""
    database = make_url(credit_db).database
    passed = _probe_drill(tmp_path, credit_db, credit_service.port, {"kind": "sql"}, "--lang", "zh")
    assert passed.returncode == 0, passed.stdout[-2000:] + passed.stderr[-2000:]
    words = _cells(passed.stdout)
    assert "[探测方式：sql] 只读查询在 127.0.0.1:" in words
    assert f"上的 {database} 返回了一行" in words and "read-only query" not in words

    wanting = {"kind": "http", "vantage": "orchestrator", "expect_body": "NOT-IN-THE-BODY"}
    failed = _probe_drill(tmp_path, credit_db, credit_service.port, wanting, "--lang", "zh")
    assert failed.returncode == EXIT_FAILED, failed.stdout[-2000:] + failed.stderr[-2000:]
    words = _cells(failed.stdout)
    assert "检查未通过：[探测方式：http] GET 返回 200，但内容中没有 'NOT-IN-THE-BODY'" in words
    assert "check failed" not in words

    from orchestrator.journal import Journal

    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    (run,) = [r for r in journal.list_runs() if r.status == "failed"]
    (step,) = journal.steps(run.id)
    assert step.error == ("check failed: [probe: http] GET answered 200 without 'NOT-IN-THE-BODY'")
    assert step.result == {
        "error_zh": "检查未通过：[探测方式：http] GET 返回 200，但内容中没有 'NOT-IN-THE-BODY'"
    }
