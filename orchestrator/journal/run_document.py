"""A run as one document, read straight from the journal: what `--json` prints and what
the drill report reads.

It lives beside the journal, not in the engine, because it only reads the journal: a
report that imports it must not load the engine's transports (paramiko, netmiko).
"""

from __future__ import annotations

from typing import Any

from orchestrator.journal.chained_rows import verified_measurements, verified_steps
from orchestrator.journal.records import MeasurementRecord, StepRecord
from orchestrator.journal.statuses import worst
from orchestrator.journal.store import Journal
from orchestrator.verdicts import verdict_of


def run_document(journal: Journal, run_id: str) -> dict[str, Any]:
    run = journal.get_run(run_id)  # RunNotFound (exit 2) for an unknown id
    return {
        "id": run.id,
        "runbook": run.runbook,
        "runbook_digest": run.runbook_digest,
        "mode": run.mode,
        "drill": run.mode == "drill",
        "status": run.status,
        "detail": run.detail,
        "started_by": run.started_by,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "reason": run.reason,
        "incident_id": run.incident_id,
        "inventory": {
            "name": run.inventory_name,
            "path": run.inventory_path,
            "environment": run.environment,
            "digest": run.inventory_digest,
        },
        "params": run.params,
        # From the chained events, checked against their tables (chained_rows.py).
        "steps": _steps(verified_steps(journal, run_id)),
        "measurements": _measurements(verified_measurements(journal, run_id)),
    }


def _steps(rows: list[StepRecord]) -> list[dict[str, Any]]:
    """One entry per step, in the order the steps first ran; a fan-out's hosts inside."""
    steps: dict[str, dict[str, Any]] = {}
    for row in rows:
        step = steps.setdefault(row.step_id, {"id": row.step_id, "kind": row.kind, "hosts": []})
        if row.host:
            step["hosts"].append({"host": row.host, **_facts(row)})
        else:
            step.update(_facts(row))
    for step in steps.values():
        if step["hosts"]:
            step.update(_fan_out(step["hosts"]))
            step.setdefault("result", None)  # each host has its own
    return list(steps.values())


def _facts(row: StepRecord) -> dict[str, Any]:
    return {
        "status": row.status,
        "attempts": row.attempts,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "result": row.result,
        "error": row.error,
    }


def _fan_out(hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """A step on several hosts, summed up: its worst status, its first error, its most
    attempts, from the first host's start to the last host's end (none while one runs)."""
    started = [h["started_at"] for h in hosts if h["started_at"]]
    finished = [h["finished_at"] for h in hosts]
    return {
        "status": worst(h["status"] for h in hosts),
        "error": next((h["error"] for h in hosts if h["error"]), None),
        "attempts": max(h["attempts"] for h in hosts),
        "started_at": min(started, default=None),
        "finished_at": max(finished) if all(finished) else None,
    }


def _measurements(records: list[MeasurementRecord]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for m in records:
        # The first of a name wins: the runbook's own, recorded while the run ran, before
        # any measured after it (the lab's observation of the same drill).
        found.setdefault(
            m.name,
            {
                "value": m.value_seconds,
                "target": m.target_seconds,
                "met": m.met,
                "verdict": verdict_of(m.met),
                "source": m.source,
                "detail": m.detail,
            },
        )
    return found
