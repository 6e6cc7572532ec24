"""Writes loans and repayments at a bounded rate and logs every acknowledged one.

``python -m lab.credit.loadgen --url http://VIP:8080 --rate 20
--log FILE.jsonl --status FILE.json --lifetime SECONDS [--max-writes N]``

The log is the lab's ground truth for RPO: a write that was acknowledged and is later
missing from the database was lost. One JSON object per line, ``event`` first:

- ``ack``: kind, id, row_at (the row's own timestamp: tells a row from a later one that
  reused its id after a failover), committed_at (service clock), acked_at, latency_ms;
- ``failing``: at (when the first failed request was sent), error, last_ack_at;
- ``working``: at (the first ack, and the first after failures: then with failure_s
  and failed_requests);
- ``start`` and ``stop``.

Failures are only counted, and the status file (rewritten atomically every second) has
the counters. Requests time out after 1 s, so an outage shows within a second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from datetime import datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any

from lab.credit import (
    DEFAULT_LIFETIME_S,
    JsonLines,
    direct_http_opener,
    iso,
    stop_on_signals,
    utc_now,
    write_json_atomic,
)
from lab.credit.pacing import paced_loop

_REPAYMENT_SHARE = 0.3
# Repayments go to loans this run opened: their ids are known to exist.
_KNOWN_LOANS = 1000


class LoadGenerator:
    def __init__(
        self,
        url: str,
        log: JsonLines,
        status_file: Path,
        *,
        rate: float,
        timeout: float = 1.0,
        branch: str = "head-office",
        seed: int | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.log = log
        self.status_file = status_file
        self.rate = rate
        self.timeout = timeout
        self.branch = branch
        self._rng = random.Random(seed)
        self._opener = direct_http_opener()
        self._loans: deque[int] = deque(maxlen=_KNOWN_LOANS)
        self.started_at = utc_now()
        self.sent = self.acked = self.failed = 0
        self.last_ack_at: datetime | None = None
        self.state = "starting"
        self._failing_since: datetime | None = None
        self._failed_in_period = 0
        self.longest_failure_s = 0.0

    def run(self, stop: threading.Event, lifetime: float, max_writes: int | None) -> None:
        """Write until ``lifetime`` has passed, ``max_writes`` were sent, or ``stop``."""
        self.log.write({"event": "start", "at": iso(self.started_at), "url": self.url})
        paced_loop(
            stop,
            interval=1.0 / self.rate,
            lifetime=lifetime,
            act=self.write_once,
            save_status=lambda: self.save_status(running=True),
            state=lambda: self.state,
            more=lambda: max_writes is None or self.sent < max_writes,
        )
        self.log.write({"event": "stop", "at": iso(utc_now()), "state": self.state})
        self.save_status(running=False)

    def write_once(self) -> None:
        kind, path, body = self._next_request()
        sent_at = utc_now()
        started = time.monotonic()
        self.sent += 1
        try:
            reply = self._post(path, body)
        except (urllib.error.URLError, HTTPException, OSError, ValueError, KeyError) as err:
            self._failure(sent_at, _describe(err))
            return
        acked_at = utc_now()
        self.log.write(
            {
                "event": "ack",
                "kind": kind,
                "id": reply["id"],
                "row_at": reply.get("row_at"),
                "committed_at": reply.get("committed_at"),
                "acked_at": iso(acked_at),
                "latency_ms": round((time.monotonic() - started) * 1000, 1),
            }
        )
        self.acked += 1
        self.last_ack_at = acked_at
        if kind == "loan":
            self._loans.append(int(reply["id"]))
        if self.state != "working":
            self._recovered(acked_at)

    def save_status(self, *, running: bool) -> None:
        write_json_atomic(
            self.status_file,
            {
                "url": self.url,
                "pid": os.getpid(),
                "running": running,
                "rate": self.rate,
                "sent": self.sent,
                "acked": self.acked,
                "failed": self.failed,
                "last_ack_at": iso(self.last_ack_at) if self.last_ack_at else None,
                "current_state": self.state,
                "longest_failure_s": round(self._longest_so_far(), 3),
                "started_at": iso(self.started_at),
                "updated_at": iso(utc_now()),
            },
        )

    def _next_request(self) -> tuple[str, str, dict[str, Any]]:
        rng = self._rng
        if self._loans and rng.random() < _REPAYMENT_SHARE:
            amount = f"{rng.randrange(100, 5000)}.{rng.randrange(100):02d}"
            repayment = {"loan_id": rng.choice(self._loans), "amount": amount}
            return "repayment", "/repayments", repayment
        loan = {
            "amount": f"{rng.randrange(50, 5000) * 100}.00",
            "rate": f"0.{rng.randrange(350, 1800):04d}",
            "term_months": rng.choice((6, 12, 24, 36)),
            "branch": self.branch,
        }
        return "loan", "/loans", loan

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with self._opener.open(request, timeout=self.timeout) as response:
            reply = json.loads(response.read())
            acknowledged = response.status == 201 and isinstance(reply, dict)
            if not acknowledged or not isinstance(reply.get("id"), int):
                raise ValueError(f"unexpected answer {response.status}: {reply}")
            return reply

    def _failure(self, sent_at: datetime, error: str) -> None:
        self.failed += 1
        self._failed_in_period += 1
        if self.state != "failing":
            self.state = "failing"
            self._failing_since = sent_at
            last = iso(self.last_ack_at) if self.last_ack_at else None
            self.log.write(
                {"event": "failing", "at": iso(sent_at), "error": error, "last_ack_at": last}
            )

    def _recovered(self, acked_at: datetime) -> None:
        record: dict[str, Any] = {"event": "working", "at": iso(acked_at)}
        if self._failing_since is not None:
            failure_s = (acked_at - self._failing_since).total_seconds()
            self.longest_failure_s = max(self.longest_failure_s, failure_s)
            record |= {"failure_s": round(failure_s, 3), "failed_requests": self._failed_in_period}
        self.log.write(record)
        self.state = "working"
        self._failing_since = None
        self._failed_in_period = 0

    def _longest_so_far(self) -> float:
        """The longest failure, counting one still going on."""
        if self._failing_since is None:
            return self.longest_failure_s
        ongoing = (utc_now() - self._failing_since).total_seconds()
        return max(self.longest_failure_s, ongoing)


def _describe(err: Exception) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return f"{type(err).__name__}: {err}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.credit.loadgen")
    parser.add_argument("--url", required=True, help="the service, e.g. http://10.77.1.10:8080")
    parser.add_argument("--rate", type=float, default=20.0, help="writes per second")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    parser.add_argument("--max-writes", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=1.0, help="per request, seconds")
    parser.add_argument("--branch", default="head-office", help="branch named on new loans")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 1000:
        parser.error("--rate must be above 0 and at most 1000 writes per second")
    stop = threading.Event()
    stop_on_signals(stop)
    args.status.parent.mkdir(parents=True, exist_ok=True)
    log = JsonLines(args.log)
    try:
        generator = LoadGenerator(
            args.url,
            log,
            args.status,
            rate=args.rate,
            timeout=args.timeout,
            branch=args.branch,
            seed=args.seed,
        )
        generator.run(stop, args.lifetime, args.max_writes)
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
