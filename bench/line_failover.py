"""Line failover on the lab: time from the start of the run to verified connectivity.

Target (issue "lines and power"): under 10 s. Needs root; brings the lab up if it is
not, and leaves it as it found it.

    .venv/bin/python bench/line_failover.py [--repeat 3]

For each repeat: cut branch-1's primary line, run `dr drill line-failover` and time it;
the figure is the run's own RTO (declaration to verified service) beside the wall time
of the whole `dr` process (interpreter start included) and the lab prober's observed
outage (from the cut, so it includes the time before the operator starts the run).
Then heal and fail back.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

from lab.credit.observe import observed_outages
from lab.lab import Lab
from orchestrator.local_machine import wait_until


def dr(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DR_DB": db, "DR_LANG": "en"}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def prober_up(lab: Lab) -> bool:
    status = json.loads((lab.state.observe / "prober-branch-1.json").read_text())
    return bool(status["state"] == "up")


def one_round(lab: Lab, db: str) -> tuple[float, float, float]:
    inventory = str(lab.state.inventory_file)
    cut_at = datetime.now(UTC)
    lab.fault("line-cut", ["branch-1", "primary"])
    wait_until(lambda: not prober_up(lab), timeout=10)
    started = time.monotonic()
    result = dr(
        db,
        "drill",
        "line-failover",
        "-i",
        inventory,
        "--auto-confirm",
        "-p",
        "branch=branch-1",
        "--json",
    )
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"line-failover failed:\n{result.stderr}")
    rto = json.loads(result.stdout)["measurements"]["rto_seconds"]["value"]
    wait_until(lambda: prober_up(lab), timeout=10)
    outages = observed_outages(lab.state.observe / "prober-branch-1.jsonl", since=cut_at)
    observed = max(o.seconds for o in outages)
    lab.heal("line-cut", ["branch-1", "primary"])
    back = dr(
        db,
        "drill",
        "line-failback",
        "-i",
        inventory,
        "--auto-confirm",
        "-p",
        "branch=branch-1",
        "-p",
        "stable_for=1",
    )
    if back.returncode != 0:
        raise SystemExit(f"line-failback failed:\n{back.stderr}")
    return wall, rto, observed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lab = Lab()
    was_up = lab.state.load().ready
    lab.up()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rounds = [
                one_round(lab, f"sqlite:///{tmp}/journal.sqlite3") for _ in range(args.repeat)
            ]
    finally:
        if not was_up:
            lab.down()
    walls, rtos, observed = zip(*rounds, strict=True)
    print(f"line failover on the lab (median of {args.repeat}):")
    print(f"  runbook RTO (declaration → verified service): {statistics.median(rtos):.2f} s")
    print(f"  whole `dr drill` process wall time:            {statistics.median(walls):.2f} s")
    print(f"  prober's observed outage (from the cut):       {statistics.median(observed):.2f} s")
    verdict = "met" if statistics.median(walls) < 10 else "NOT met"
    print(f"  target < 10 s from the start of the run: {verdict}")


if __name__ == "__main__":
    main()
