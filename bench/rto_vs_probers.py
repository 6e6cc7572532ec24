"""Is the RTO a run reports the outage the branches lived through? On the lab, against
the lab's own probers (one per branch, 10 probes a second, logging every change).

Target (issue #16, item 7): `line-failover` and `dual-host-cutover` report an RTO within
1 s of the probers' observed outage (median of 3). Needs root; brings the lab up if it is
not, and leaves it (and the pair) as it found it.

    flock /tmp/drlab.lock .venv/bin/python bench/rto_vs_probers.py [--repeat 3] [--delay 3]

`dr scheduler watch` runs on the lab inventory (scheduler.service_watch: every 0.5 s
from each branch) for the whole bench, journaling into the runs' database. Each round:
the fault (branch-1's primary line cut / `host-down dc-a`), `--delay` seconds for the
operator to react, then `dr drill ... --auto-confirm`. Compared: the run's RTO (its clock
from the watch's first failed probe to the watch seeing every branch that lost the
service get it back, both named in the measurement) and the probers' outage (the first
prober's first failed probe to the last one's first passing answer). Then failback /
reset_pair.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from lab.credit.observe import observed_outages
from lab.lab import Lab
from lab.pair_reset import reset_pair
from orchestrator.local_machine import wait_until

DR = [sys.executable, "-m", "orchestrator.cli.main"]
SETTLE_S = 3.0


@dataclass(frozen=True)
class Round:
    runbook_rto: float
    observed: float
    clock_started_by: str
    clock_stopped_by: str

    @property
    def difference(self) -> float:
        return self.runbook_rto - self.observed


def dr(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DR_DB": db, "DR_LANG": "en"}
    return subprocess.run([*DR, *args], env=env, capture_output=True, text=True, timeout=300)


def inventory(lab: Lab, directory: Path) -> str:
    """The lab inventory with a 1 s SSH connect timeout (the dark host would cost 5 s)."""
    data = yaml.safe_load(lab.state.inventory_file.read_text())
    data["defaults"]["ssh"]["connect_timeout"] = 1
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return str(path)


def probers_outage(lab: Lab, where: list[str], since: datetime) -> float:
    """From the first prober's first failed probe to the last one's first passing answer."""
    outages = [
        max(
            observed_outages(lab.state.observe / f"prober-{b}.jsonl", since=since),
            key=lambda o: o.seconds,
        )
        for b in where
    ]
    if not all(o.resolved for o in outages):
        raise SystemExit(f"a prober did not see the service come back: {outages}")
    return (max(o.end for o in outages) - min(o.start for o in outages)).total_seconds()


def prober_state(lab: Lab, branch: str) -> str:
    return str(json.loads((lab.state.observe / f"prober-{branch}.json").read_text())["state"])


def measured(result: subprocess.CompletedProcess[str], what: str) -> tuple[float, str, str]:
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    rto = json.loads(result.stdout)["measurements"]["rto_seconds"]
    detail = rto["detail"]
    return rto["value"], detail["lost_at_source"], detail["restored_at_source"]


def branches(lab: Lab) -> list[str]:
    """The branches the lab probes from (a prober log each)."""
    return sorted(p.stem.removeprefix("prober-") for p in lab.state.observe.glob("prober-*.jsonl"))


def settled(lab: Lab) -> None:
    """Every prober up, and for long enough that the watch (every 0.5 s) saw it too: a
    fault right after a reset's own brief outage would join the two in one."""
    every = branches(lab)
    wait_until(lambda: all(prober_state(lab, b) == "up" for b in every), timeout=60)
    time.sleep(SETTLE_S)
    if not all(prober_state(lab, b) == "up" for b in every):
        raise SystemExit("the service did not stay up after the reset")


def line_round(lab: Lab, db: str, inv: str, delay: float) -> Round:
    settled(lab)
    since = datetime.now(UTC)
    lab.fault("line-cut", ["branch-1", "primary"])
    wait_until(lambda: prober_state(lab, "branch-1") == "down", timeout=10)
    time.sleep(delay)
    args = ("-i", inv, "--auto-confirm", "-p", "branch=branch-1")
    rto, started_by, stopped_by = measured(
        dr(db, "drill", "line-failover", *args, "--json"), "line-failover"
    )
    wait_until(lambda: prober_state(lab, "branch-1") == "up", timeout=10)
    observed = probers_outage(lab, ["branch-1"], since)
    lab.heal("line-cut", ["branch-1", "primary"])
    back = dr(db, "drill", "line-failback", *args, "-p", "stable_for=1")
    if back.returncode != 0:
        raise SystemExit(f"line-failback failed:\n{back.stderr}")
    return Round(rto, observed, started_by, stopped_by)


def cutover_round(lab: Lab, db: str, inv: str, delay: float) -> Round:
    settled(lab)
    since = datetime.now(UTC)
    lab.fault("host-down", ["dc-a"])
    wait_until(lambda: prober_state(lab, "branch-1") == "down", timeout=10)
    time.sleep(delay)
    rto, started_by, stopped_by = measured(
        dr(db, "drill", "dual-host-cutover", "-i", inv, "--auto-confirm", "--json"),
        "dual-host-cutover",
    )
    every = branches(lab)
    wait_until(lambda: all(prober_state(lab, b) == "up" for b in every), timeout=10)
    observed = probers_outage(lab, every, since)
    reset_pair(lab)
    return Round(rto, observed, started_by, stopped_by)


def report(name: str, rounds: list[Round]) -> bool:
    median = statistics.median(r.difference for r in rounds)
    print(f"{name} (median of {len(rounds)}):")
    print(f"  runbook RTO          {statistics.median(r.runbook_rto for r in rounds):7.2f} s")
    print(f"  probers' outage      {statistics.median(r.observed for r in rounds):7.2f} s")
    print(
        f"  difference           {median:+7.2f} s  (each: "
        + ", ".join(f"{r.difference:+.2f}" for r in rounds)
        + ")"
    )
    print(f"  clock started by     {rounds[-1].clock_started_by}")
    print(f"  clock stopped by     {rounds[-1].clock_stopped_by}")
    met = abs(median) <= 1.0
    print(f"  target |difference| <= 1 s: {'met' if met else 'NOT met'}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--delay", type=float, default=3.0, help="operator's reaction, s")
    args = parser.parse_args()
    lab = Lab()
    was_up = lab.state.load().ready
    lab.up()
    reset_pair(lab)
    rounds: dict[str, list[Round]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inv = inventory(lab, Path(tmp))
            db = f"sqlite:///{tmp}/journal.sqlite3"
            watch = subprocess.Popen(
                [*DR, "scheduler", "watch", "-i", inv, "--db", db, "--for", "2h"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                time.sleep(3)  # its first look at every target
                kinds: list[tuple[str, Callable[[Lab, str, str, float], Round]]] = [
                    ("line-failover (branch-1's primary line cut)", line_round),
                    ("dual-host-cutover (host-down dc-a)", cutover_round),
                ]
                for name, one in kinds:
                    rounds[name] = [one(lab, db, inv, args.delay) for _ in range(args.repeat)]
            finally:
                watch.send_signal(signal.SIGTERM)
                watch.wait(timeout=30)
    finally:
        if not was_up:
            lab.down()
    print(f"operator's reaction before each run: {args.delay:g} s")
    verdicts = [report(name, r) for name, r in rounds.items()]
    raise SystemExit(0 if all(verdicts) else 1)


if __name__ == "__main__":
    main()
