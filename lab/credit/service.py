"""The credit-reporting service on the lab's VIP: loans and repayments in, 报文 files out.

``python -m lab.credit.service --listen ADDR --port 8080 --dsn-file FILE
--message-dir DIR --lifetime SECONDS``

A write is acknowledged (201) only after COMMIT returned and its report-message file
is in place; the durability of that COMMIT is whatever ``synchronous_commit`` the server
has, which is exactly what a drill measures. ``/health`` is 200 only on a writable
primary, so a read-only standby behind the VIP never passes for a writer. The DSN (with
its password) comes from a file: argv and the environment are visible to other users.

A loan opened with the header ``X-Test-Account: NAME`` (NAME one of ``--test-account``)
is a test: stored under the branch ``test:NAME``, answered and read back with
``is_test: true``, and given no report message, so nothing reports it as business. That
is what dr's `test-write` probe writes; an account not designated is refused (403).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lab.credit import DEFAULT_LIFETIME_S, iso, log_event, stop_on_signals, utc_now
from lab.credit.pool import Database, DatabaseUnavailable, Reply
from lab.credit.reports import loan_opened, repaid, write_message
from lab.credit.validate import integer, money, number, text
from lab.errors import LabError

_MAX_BODY = 64 * 1024
_LOAN_PATH = re.compile(r"^/loans/(\d{1,18})$")
TEST_ACCOUNT_HEADER = "X-Test-Account"
DEFAULT_TEST_ACCOUNT = "dr-probe"
# The branch a test loan is stored under: test rows stay apart from every real branch.
_TEST_BRANCH_PREFIX = "test:"
# Not a socket constant in every Python build; the Linux value has been 15 forever.
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)

_PICK_BORROWER = (
    "SELECT id, name, id_number FROM borrowers WHERE id >="
    " (SELECT floor(random() * (max(id) + 1))::bigint FROM borrowers) ORDER BY id LIMIT 1"
)
_STATS = (
    "SELECT (SELECT count(*) FROM borrowers), (SELECT count(*) FROM loans),"
    " (SELECT count(*) FROM repayments), (SELECT count(*) FROM report_messages),"
    " greatest((SELECT max(updated_at) FROM loans), (SELECT max(paid_at) FROM repayments)),"
    " pg_is_in_recovery()"
)


class CreditService:
    """What each endpoint does, as (status, JSON body); the HTTP plumbing is elsewhere."""

    def __init__(
        self,
        db: Database,
        message_dir: Path,
        test_accounts: frozenset[str] = frozenset({DEFAULT_TEST_ACCOUNT}),
    ) -> None:
        self.db = db
        self.message_dir = message_dir
        self.test_accounts = test_accounts

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            in_recovery, read_only = self.db.run(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'",
                (),
                write=False,
            )[0]
        except DatabaseUnavailable as err:
            return 503, {"ok": False, "role": "unreachable", "error": str(err)}
        if in_recovery:
            return 503, {"ok": False, "role": "standby"}
        if read_only:
            return 503, {"ok": False, "role": "read-only"}
        return 200, {"ok": True, "role": "primary"}

    def create_loan(
        self, body: dict[str, Any], test_account: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        amount = money(body.get("amount"), "amount")
        rate = number(body.get("rate", "0.0435"), "rate", Decimal(0), Decimal("0.99"))
        term = integer(body.get("term_months", 12), "term_months", 1, 600)
        branch = text(body.get("branch", "head-office"), "branch")
        if test_account is not None:
            if test_account not in self.test_accounts:
                raise Reply(403, f"{test_account!r} is not a designated test account")
            branch = _TEST_BRANCH_PREFIX + test_account
        borrower_id = body.get("borrower_id")
        if borrower_id is not None:
            borrower_id = integer(borrower_id, "borrower_id", 1, 2**62)

        def work(cursor: Any) -> tuple[int, Any, str | None, str | None]:
            if borrower_id is None:
                cursor.execute(_PICK_BORROWER)
            else:
                cursor.execute(
                    "SELECT id, name, id_number FROM borrowers WHERE id = %s", (borrower_id,)
                )
            borrower = cursor.fetchone()
            if borrower is None:
                raise Reply(404, f"no borrower {borrower_id or '(the table is empty)'}")
            cursor.execute(
                "INSERT INTO loans (borrower_id, amount, rate, term_months, branch)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id, issued_at, status",
                (borrower[0], amount, rate, term, branch),
            )
            loan_id, issued_at, status = cursor.fetchone()
            if test_account is not None:
                return loan_id, issued_at, None, None  # a test is never reported
            record = loan_opened(loan_id, borrower, amount, rate, term, status, branch, issued_at)
            return loan_id, issued_at, *self._record_message(cursor, "loan_open", loan_id, record)

        return self._write("loan", work)

    def create_repayment(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        loan_id = integer(body.get("loan_id"), "loan_id", 1, 2**62)
        amount = money(body.get("amount", "100.00"), "amount")

        def work(cursor: Any) -> tuple[int, Any, str, str]:
            cursor.execute(
                "INSERT INTO repayments (loan_id, amount) SELECT id, %s FROM loans"
                " WHERE id = %s RETURNING id, paid_at",
                (amount, loan_id),
            )
            row = cursor.fetchone()
            if row is None:
                raise Reply(404, f"no loan {loan_id}")
            cursor.execute(
                "UPDATE loans SET updated_at = now(), status = CASE WHEN (SELECT sum(amount)"
                " FROM repayments WHERE loan_id = loans.id) >= amount THEN 'settled'"
                " ELSE status END WHERE id = %s",
                (loan_id,),
            )
            record = repaid(row[0], loan_id, amount, row[1])
            return row[0], row[1], *self._record_message(cursor, "repayment", loan_id, record)

        return self._write("repayment", work)

    def loan(self, loan_id: int) -> tuple[int, dict[str, Any]]:
        rows = self.db.run(
            "SELECT id, borrower_id, amount, rate, term_months, status, branch, issued_at,"
            " updated_at, (SELECT coalesce(sum(amount), 0) FROM repayments r"
            " WHERE r.loan_id = l.id) FROM loans l WHERE id = %s",
            (loan_id,),
            write=False,
        )
        if not rows:
            return 404, {"error": f"no loan {loan_id}"}
        keys: tuple[str, ...] = (
            "id",
            "borrower_id",
            "amount",
            "rate",
            "term_months",
            "status",
            "branch",
        )
        keys += ("issued_at", "updated_at", "repaid")
        loan = dict(zip(keys, rows[0], strict=True))
        return 200, {**loan, "is_test": str(loan["branch"]).startswith(_TEST_BRANCH_PREFIX)}

    def stats(self) -> tuple[int, dict[str, Any]]:
        row = self.db.run(_STATS, (), write=False)[0]
        keys = ("borrowers", "loans", "repayments", "report_messages", "newest_write_at")
        return 200, {**dict(zip(keys, row[:5], strict=True)), "in_recovery": row[5]}

    def _record_message(
        self, cursor: Any, kind: str, loan_id: int, record: tuple[str, str]
    ) -> tuple[str, str]:
        file_name, line = record
        cursor.execute(
            "INSERT INTO report_messages (kind, loan_id, file_name) VALUES (%s, %s, %s)",
            (kind, loan_id, file_name),
        )
        return file_name, line

    def _write(self, kind: str, work: Any) -> tuple[int, dict[str, Any]]:
        row_id, row_at, file_name, line = self.db.transact(work)
        committed_at = utc_now()
        if file_name is None:  # a test write: no report message
            return 201, {
                "id": row_id,
                "kind": kind,
                "row_at": iso(row_at),
                "committed_at": iso(committed_at),
                "is_test": True,
            }
        try:
            write_message(self.message_dir, file_name, line)
        except OSError as err:
            # Committed, yet not acknowledged: the service promised the message file too.
            log_event("message_not_written", kind=kind, id=row_id, error=str(err))
            return 500, {"error": f"committed, but the report message failed: {err}"}
        return 201, {
            "id": row_id,
            "kind": kind,
            "row_at": iso(row_at),
            "committed_at": iso(committed_at),
            "message_file": file_name,
            "is_test": False,
        }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "credit-service/1"

    def do_GET(self) -> None:
        app = self.server.app
        match = _LOAN_PATH.match(self.path)
        if self.path == "/health":
            self._guarded(app.health)
        elif self.path == "/stats":
            self._guarded(app.stats)
        elif match:
            self._guarded(lambda: app.loan(int(match.group(1))))
        else:
            self._reply(404, {"error": f"no such resource {self.path}"})

    def do_POST(self) -> None:
        app = self.server.app
        test_account = self.headers.get(TEST_ACCOUNT_HEADER)
        if self.path == "/loans":
            self._guarded(lambda: app.create_loan(self._body(), test_account))
        elif self.path == "/repayments" and test_account is None:
            self._guarded(lambda: app.create_repayment(self._body()))
        elif self.path == "/repayments":
            self._reply(403, {"error": "a test account may only open loans"})
        else:
            self._reply(404, {"error": f"no such resource {self.path}"})

    def _guarded(self, action: Any) -> None:
        try:
            status, body = action()
        except Reply as reply:
            status, body = reply.status, {"error": reply.message}
        except Exception as err:  # a bug: answer and log it in one line, keep serving
            log_event("request_failed", path=self.path, error=f"{type(err).__name__}: {err}")
            status, body = 500, {"error": "internal error; see the service log"}
        self._reply(status, body)

    def _body(self) -> dict[str, Any]:
        length_header = self.headers.get("Content-Length") or "0"
        length = int(length_header) if length_header.isdigit() else 0
        if not 0 < length <= _MAX_BODY:
            raise Reply(400, f"send a JSON object of at most {_MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            raise Reply(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise Reply(400, "the body must be a JSON object")
        return body

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False, default=_json_value).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): a committed write stays unacknowledged

    def log_message(self, format: str, *args: Any) -> None:
        """Silent per request: probers ask ten times a second; the DB's ups and downs are
        what the pool logs."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: CreditService) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # FREEBIND: the VIP may not be on this host yet (a standby site's service waits
        # for it). And no getfqdn() as HTTPServer does: lab namespaces have no DNS.
        self.socket.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return iso(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def read_dsn(path: Path) -> str:
    try:
        dsn = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise LabError(f"cannot read the database DSN file {path}: {err.strerror}") from None
    if not dsn:
        raise LabError(f"the database DSN file {path} is empty")
    return dsn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.credit.service")
    parser.add_argument("--listen", required=True, help="address to serve on (the VIP)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--dsn-file", type=Path, required=True, help="file holding the DSN")
    parser.add_argument("--message-dir", type=Path, required=True)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument(
        "--test-account",
        action="append",
        help=f"a designated test account (repeatable; default {DEFAULT_TEST_ACCOUNT})",
    )
    args = parser.parse_args(argv)
    try:
        db = Database(read_dsn(args.dsn_file), args.pool_size)
        args.message_dir.mkdir(parents=True, exist_ok=True)
        accounts = frozenset(args.test_account or [DEFAULT_TEST_ACCOUNT])
        server = _Server((args.listen, args.port), CreditService(db, args.message_dir, accounts))
    except (LabError, OSError) as err:
        log_event("failed", error=getattr(err, "message", None) or str(err))
        return 1
    stop = threading.Event()
    stop_on_signals(stop)
    # serve_forever in a thread: shutdown() must come from another thread than the loop.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}).start()
    log_event("started", listen=args.listen, port=server.server_port, pid=os.getpid())
    by_signal = stop.wait(args.lifetime)
    server.shutdown()
    server.server_close()
    db.close()
    log_event("stopped", reason="signal" if by_signal else "lifetime")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
