"""Kill a real `dr` process (SIGKILL) at every step of a runbook, then `dr resume` it.

Each step of the `gated-steps` runbook blocks on a gate file, either before or after its
side effect, so the test knows exactly where the process dies. After the resume every
effect must exist exactly once: no completed step ran again, and an interrupted step was
re-checked through its verify before being retried.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.journal import Journal

DATA = Path(__file__).parent.parent / "data"
DR = [sys.executable, "-m", "orchestrator.cli.main"]
STEPS = ["one", "two", "three", "four", "five"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DR_RUNBOOKS": str(DATA / "runbooks"),
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }


def _wait_for(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _effects(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.integration
@pytest.mark.parametrize("position", ["before", "after"])
@pytest.mark.parametrize("victim", STEPS)
def test_killed_run_resumes_without_repeating_a_step(tmp_path: Path, victim: str, position: str):
    effects, gates = tmp_path / "effects.log", tmp_path / "gates"
    gates.mkdir()
    for done in STEPS[: STEPS.index(victim)]:
        (gates / done).touch()
    env = _env(tmp_path)
    process = subprocess.Popen(
        [
            *DR,
            "drill",
            "gated-steps",
            "-i",
            str(DATA / "engine-drill.yaml"),
            "-p",
            f"effects={effects}",
            "-p",
            f"gates={gates}",
            "-p",
            f"gate_position={position}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    journal = Journal(env["DR_DB"])
    try:
        if position == "after":
            _wait_for(lambda: f"effect:{victim}" in _effects(effects), f"effect of {victim}")
        else:
            _wait_for(
                lambda: any(
                    r.step_id == victim and r.status == "running"
                    for run in journal.list_runs(1)
                    for r in journal.steps(run.id)
                ),
                f"{victim} to start",
            )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    [run] = journal.list_runs()
    assert run.status == "running"  # killed: nobody got to record an ending

    for step in STEPS:
        (gates / step).touch()
    resumed = subprocess.run(
        [*DR, "resume", run.id, "--json"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["status"] == "succeeded"
    assert _effects(effects) == [f"effect:{s}" for s in STEPS]
    victim_step = next(s for s in doc["steps"] if s["id"] == victim)
    if position == "after":
        # its effect happened before the kill: the verify recognised it, no second effect
        assert victim_step["result"]["already_in_effect"] is True
    started = [e for e in journal.events(run.id, kinds=("step.started",))]
    for step in STEPS[: STEPS.index(victim)]:
        assert sum(e.step_id == step for e in started) == 1, f"{step} ran twice"
    assert "rto_seconds" in doc["measurements"]
    assert journal.verify().ok
