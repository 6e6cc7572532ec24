"""A run's record and per-step outcome, read straight from the journal.

Not `orchestrator.engine.record.run_document`: importing the engine package loads
paramiko and netmiko (~2 s), which a report never needs.
"""

from __future__ import annotations

from typing import Any

from orchestrator.journal import Journal

_WORST_FIRST = ("failed", "running", "waiting", "rolled_back")


def run_facts(journal: Journal, run_id: str) -> dict[str, Any]:
    run = journal.get_run(run_id)  # RunNotFound (exit 2) for an unknown id
    steps: dict[str, dict[str, Any]] = {}
    for row in journal.steps(run_id):
        step = steps.setdefault(
            row.step_id,
            {"id": row.step_id, "kind": row.kind, "statuses": [], "attempts": 0,
             "started_at": row.started_at, "finished_at": row.finished_at, "error": None},
        )  # fmt: skip
        step["statuses"].append(row.status)
        step["attempts"] = max(step["attempts"], row.attempts)
        step["error"] = step["error"] or row.error
        step["finished_at"] = max(
            filter(None, [step["finished_at"], row.finished_at]), default=None
        )
    for step in steps.values():
        statuses = step.pop("statuses")
        step["status"] = next((s for s in _WORST_FIRST if s in statuses), statuses[0])
    return {**run.to_dict(), "steps": list(steps.values())}
