"""Engine overhead: a runbook of no-op steps, journaled on SQLite.

Target (issue "foundation"): 1,000 journaled no-op steps in under 2 s on the project's
machine (2 cores). Prints steps per second, and the same number of bare journal appends
(started + finished per step) as the floor the engine cannot beat.

    .venv/bin/python bench/engine_overhead.py [--steps 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.journal.records import RunRecord
from orchestrator.runbook import Runbook

INVENTORY = Path(__file__).resolve().parent.parent / "tests" / "data" / "engine-drill.yaml"


def noop_runbook(steps: int) -> Runbook:
    runbook = Runbook("noop-bench", title="No-op steps")
    for n in range(steps):

        def noop(ctx: Any) -> None:
            return None

        runbook.action(f"noop-{n}")(noop)
    return runbook


def time_engine(steps: int, workdir: Path) -> float:
    runbook = noop_runbook(steps)
    registry = RunbookRegistry({runbook.name: runbook})
    journal = Journal(f"sqlite:///{workdir}/engine.sqlite3")
    engine = Engine(journal, registry)
    inventory = load_inventory(INVENTORY)
    started = time.perf_counter()
    outcome = engine.start(runbook.name, inventory, RunOptions(mode="drill", operator="bench"))
    elapsed = time.perf_counter() - started
    assert outcome.status == "succeeded", outcome
    assert len(journal.steps(outcome.run_id)) == steps
    journal.close()
    return elapsed


def time_bare_journal(steps: int, workdir: Path) -> float:
    journal = Journal(f"sqlite:///{workdir}/bare.sqlite3")
    journal.create_run(
        RunRecord(
            id="bench",
            runbook="noop-bench",
            runbook_digest="",
            mode="drill",
            status="running",
            inventory_path="-",
            inventory_digest="-",
            inventory_name="-",
            environment="drill",
            started_by="bench",
            started_at="2026-01-01T00:00:00+00:00",
        )
    )
    started = time.perf_counter()
    for n in range(steps):
        journal.step_started("bench", f"noop-{n}", "", kind="action", attempt=1)
        journal.step_finished("bench", f"noop-{n}", "", kind="action", status="succeeded")
    elapsed = time.perf_counter() - started
    journal.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine_times, bare_times = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            engine_times.append(time_engine(args.steps, Path(tmp)))
            bare_times.append(time_bare_journal(args.steps, Path(tmp)))
    engine, bare = statistics.median(engine_times), statistics.median(bare_times)
    print(f"{args.steps} journaled no-op steps (median of {args.repeat}):")
    print(f"  engine:        {engine:.3f} s  ({args.steps / engine:,.0f} steps/s)")
    print(f"  bare journal:  {bare:.3f} s  ({args.steps / bare:,.0f} steps/s)")
    print(f"  engine / bare: {engine / bare:.2f}x")
    verdict = "met" if engine < 2.0 * args.steps / 1000 else "NOT met"
    print(f"  target < 2 s per 1,000 steps: {verdict}")


if __name__ == "__main__":
    main()
