"""Polls the credit service's ``/health`` from a branch and logs every up/down change.

``python -m lab.credit.prober --url http://VIP:8080/health --interval 0.1
--name branch-1 --log FILE.jsonl --status FILE.json --lifetime SECONDS``

This is availability as a branch sees it, whatever a runbook believes. The log has one
JSON object per transition, ``event`` first:

- ``start`` / ``stop``: at, name, url (and the state at stop);
- ``down``: at (when the first failed probe was sent), error, last_ok_at (the last
  probe that passed: the outage began between the two);
- ``up``: at (when the first passing probe answered), outage_s (from its ``down``).

A probe passes on HTTP 200 within the timeout (0.5 s). The status file is rewritten
atomically every second with the counters.
"""

from __future__ import annotations

import argparse
import os
import threading
from datetime import datetime
from pathlib import Path

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
from orchestrator.service_watch.http_check import http_get


class Prober:
    def __init__(
        self, url: str, name: str, log: JsonLines, status_file: Path, *, timeout: float = 0.5
    ) -> None:
        self.url = url
        self.name = name
        self.log = log
        self.status_file = status_file
        self.timeout = timeout
        self._opener = direct_http_opener()
        self.started_at = utc_now()
        self.probes = self.ok = self.failed = self.outages = 0
        self.state = "unknown"
        self.since = self.started_at
        self.last_ok_at: datetime | None = None
        self.last_transition_at: datetime | None = None
        self.longest_outage_s = 0.0

    def run(self, stop: threading.Event, interval: float, lifetime: float) -> None:
        self.log.write({"event": "start", "at": iso(self.started_at), **self._identity()})
        paced_loop(
            stop,
            interval=interval,
            lifetime=lifetime,
            act=self.probe_once,
            save_status=lambda: self.save_status(running=True),
            state=lambda: self.state,
        )
        self.log.write({"event": "stop", "at": iso(utc_now()), "state": self.state})
        self.save_status(running=False)

    def probe_once(self) -> None:
        sent_at = utc_now()
        self.probes += 1
        error = self._check()
        if error is None:
            self.ok += 1
            answered_at = utc_now()
            self.last_ok_at = answered_at
            if self.state != "up":
                self._went_up(answered_at)
        else:
            self.failed += 1
            if self.state != "down":
                self._went_down(sent_at, error)

    def save_status(self, *, running: bool) -> None:
        write_json_atomic(
            self.status_file,
            {
                **self._identity(),
                "pid": os.getpid(),
                "running": running,
                "probes": self.probes,
                "ok": self.ok,
                "failed": self.failed,
                "state": self.state,
                "since": iso(self.since),
                "longest_outage_s": round(self._longest_so_far(), 3),
                "outages": self.outages,
                "last_transition_at": (
                    iso(self.last_transition_at) if self.last_transition_at else None
                ),
                "started_at": iso(self.started_at),
                "updated_at": iso(utc_now()),
            },
        )

    def _check(self) -> str | None:
        """None if the service is healthy, else why not."""
        return http_get(self.url, self.timeout, self._opener)

    def _went_down(self, at: datetime, error: str) -> None:
        self.state, self.since, self.last_transition_at = "down", at, at
        self.outages += 1
        last_ok = iso(self.last_ok_at) if self.last_ok_at else None
        self.log.write({"event": "down", "at": iso(at), "error": error, "last_ok_at": last_ok})

    def _went_up(self, at: datetime) -> None:
        record: dict[str, object] = {"event": "up", "at": iso(at)}
        if self.state == "down":
            outage_s = (at - self.since).total_seconds()
            self.longest_outage_s = max(self.longest_outage_s, outage_s)
            record["outage_s"] = round(outage_s, 3)
        self.state, self.since, self.last_transition_at = "up", at, at
        self.log.write(record)

    def _longest_so_far(self) -> float:
        if self.state != "down":
            return self.longest_outage_s
        return max(self.longest_outage_s, (utc_now() - self.since).total_seconds())

    def _identity(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.credit.prober")
    parser.add_argument("--url", required=True, help="e.g. http://10.77.1.10:8080/health")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between probes")
    parser.add_argument("--timeout", type=float, default=0.5, help="per probe, seconds")
    parser.add_argument("--name", required=True, help="where it probes from, e.g. branch-1")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    args = parser.parse_args(argv)
    if args.interval < 0.01:
        parser.error("--interval must be at least 0.01 s")
    stop = threading.Event()
    stop_on_signals(stop)
    args.status.parent.mkdir(parents=True, exist_ok=True)
    log = JsonLines(args.log)
    try:
        prober = Prober(args.url, args.name, log, args.status, timeout=args.timeout)
        prober.run(stop, args.interval, args.lifetime)
    finally:
        log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
