"""The lab's own split-brain watcher: was there ever a moment with two writable primaries?

`SplitBrainWatch(lab).start()` runs `python -m lab.split_brain` in the
core namespace, on the DC LAN: it asks both database hosts `pg_is_in_recovery()` over
the LAN every 50 ms (never over the orchestrator's management path, which a partition
cuts), one thread per host. `stop()` ends it and returns what it saw. It stops by
itself after `--lifetime` seconds.

Each sample is one of: `writable` (a primary answered), `standby` (in recovery),
`down` (no postmaster runs on that host: read from the host's own process table, the
ground truth a powered-off machine gives), or `unknown` (a postmaster runs but did not
answer over the LAN). The judgement is conservative: a host counts as possibly
writable from its last sample that said otherwise until the first sample that proves
otherwise (`standby` or `down`); `unknown` proves nothing. An overlap of two such
stretches is a split brain.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab import processes
from lab.credit import write_json_atomic
from lab.errors import LabError
from orchestrator.local_machine import wait_until

HOSTS = ("dc-a", "dc-b")
INTERVAL_S = 0.05
DEFAULT_LIFETIME_S = 900.0
READY = "split-brain watch: sampling both hosts"

Sample = tuple[float, str]  # (unix time the state was known, state)
Stretch = tuple[float, float]


@dataclass(frozen=True)
class WatchResult:
    """What the watcher saw: every overlap of possibly-writable stretches (unix times),
    and per host how many samples it took and how many found a writable primary."""

    overlaps: list[tuple[float, float]]
    samples: dict[str, int]
    writable_samples: dict[str, int]
    started_at: float
    stopped_at: float

    @property
    def split_brain(self) -> bool:
        return bool(self.overlaps)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchResult:
        return cls(
            overlaps=[(float(a), float(b)) for a, b in data["overlaps"]],
            samples={k: int(v) for k, v in data["samples"].items()},
            writable_samples={k: int(v) for k, v in data["writable_samples"].items()},
            started_at=float(data["started_at"]),
            stopped_at=float(data["stopped_at"]),
        )


# ---- the judgement (pure) ------------------------------------------------------------


def writable_stretches(samples: list[Sample], end: float) -> list[tuple[float, float]]:
    """The stretches a host may have been writable, widened to the neighbouring samples
    that prove it was not (`standby` / `down`)."""
    stretches: list[tuple[float, float]] = []
    last_proof: float | None = None
    start: float | None = None
    for at, state in samples:
        if state == "writable" and start is None:
            start = last_proof if last_proof is not None else at
        elif state in ("standby", "down"):
            if start is not None:
                stretches.append((start, at))
                start = None
            last_proof = at
    if start is not None:
        stretches.append((start, end))
    return stretches


def overlaps(a: list[Stretch], b: list[Stretch]) -> list[Stretch]:
    found = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                found.append((start, end))
    return sorted(found)


# ---- the watcher process -------------------------------------------------------------


def _sample_host(host: str, dsn: str, alive: Any, stop: threading.Event, out: list[Sample]) -> None:
    import psycopg2

    conn = None
    while not stop.is_set():
        state = "unknown"
        try:
            if conn is None:
                # tcp_user_timeout: a peer that lost power must not hang a query for minutes.
                conn = psycopg2.connect(dsn, connect_timeout=1, tcp_user_timeout=1000)
                conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_is_in_recovery()")
                (in_recovery,) = cursor.fetchone() or (None,)
            state = "standby" if in_recovery else "writable"
        except psycopg2.Error:
            if conn is not None:
                conn.close()
                conn = None
            state = "unknown" if alive() else "down"
        out.append((time.time(), state))
        stop.wait(INTERVAL_S)
    if conn is not None:
        conn.close()


def run(args: argparse.Namespace) -> int:
    from lab.lab import Lab
    from lab.state import LabState
    from lab.topology import LabTopology

    lab = Lab(LabState(args.lab_root))
    topo = LabTopology(branches=lab.state.load().branches)
    password = lab.state.secret("credit_app_password")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    started = time.time()
    samples: dict[str, list[Sample]] = {host: [] for host in HOSTS}
    threads = []
    for host in HOSTS:
        server = lab.postgres(topo, host)
        dsn = (
            f"host={topo.lan_address(host)} port=5432 dbname=credit user=credit_app "
            f"password={password} application_name=dr-split-brain-watch"
        )
        thread = threading.Thread(
            target=_sample_host,
            args=(host, dsn, lambda s=server: s.is_running, stop, samples[host]),
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    while not stop.is_set() and not all(samples.values()):
        stop.wait(INTERVAL_S)
    print(READY, flush=True)
    stop.wait(max(0.0, args.lifetime - (time.time() - started)))
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    ended = time.time()
    stretches = {host: writable_stretches(samples[host], ended) for host in HOSTS}
    result = {
        "overlaps": overlaps(stretches["dc-a"], stretches["dc-b"]),
        "samples": {host: len(samples[host]) for host in HOSTS},
        "writable_samples": {
            host: sum(1 for _, state in samples[host] if state == "writable") for host in HOSTS
        },
        "started_at": started,
        "stopped_at": ended,
        "stretches": stretches,
        "written_at": datetime.now(UTC).isoformat(),
    }
    write_json_atomic(args.out, result)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.split_brain")
    parser.add_argument("--lab-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="result JSON, written at the end")
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    return run(parser.parse_args(argv))


# ---- the handle tests and benchmarks use ---------------------------------------------


class SplitBrainWatch:
    """Start the watcher, do something to the pair, `stop()` and read the verdict."""

    def __init__(self, lab: Any, lifetime: float = DEFAULT_LIFETIME_S) -> None:
        self.lab = lab
        self.lifetime = lifetime
        self.out = lab.state.observe / "split-brain.json"
        self._process: processes.LabProcess | None = None

    def start(self) -> None:
        from lab.topology import LabTopology

        topo = LabTopology(branches=self.lab.state.load().branches)
        self.out.unlink(missing_ok=True)
        (self.lab.state.logs / "split-brain-watch.log").unlink(missing_ok=True)
        self._process = processes.start(
            "split-brain-watch",
            [
                sys.executable,
                *("-m", "lab.split_brain"),
                *("--lab-root", str(self.lab.state.root), "--out", str(self.out)),
                *("--lifetime", f"{self.lifetime:g}"),
            ],
            marker=str(self.lab.state.root),
            netns=topo.namespace("core"),
            log=self.lab.state.logs / "split-brain-watch.log",
            env={"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        # Both hosts sampled at least once before the caller starts acting.
        log = self.lab.state.logs / "split-brain-watch.log"
        if not wait_until(lambda: READY in _tail(log), timeout=45):
            raise LabError(f"the split-brain watcher did not start sampling; see {log}")

    def stop(self) -> WatchResult:
        if self._process is None:
            raise RuntimeError("the split-brain watcher was not started")
        processes.signal_all([self._process.pid], signal.SIGTERM)
        wait_until(lambda: self.out.exists(), timeout=45)
        processes.stop(self._process)
        self._process = None
        return WatchResult.from_dict(json.loads(self.out.read_text()))


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-4096:]
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
