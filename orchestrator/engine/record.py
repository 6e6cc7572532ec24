"""A run as one document: what `--json` prints and what reports read."""

from __future__ import annotations

from typing import Any

from orchestrator.journal import Journal


def run_document(journal: Journal, run_id: str) -> dict[str, Any]:
    run = journal.get_run(run_id)
    steps: dict[str, dict[str, Any]] = {}
    for row in journal.steps(run_id):
        step = steps.setdefault(
            row.step_id,
            {
                "id": row.step_id,
                "kind": row.kind,
                "status": row.status,
                "hosts": [],
                "started_at": row.started_at,
                "finished_at": row.finished_at,
                "attempts": 0,
                "result": None,
                "error": None,
            },
        )
        if row.host:
            step["hosts"].append(
                {
                    "host": row.host,
                    "status": row.status,
                    "attempts": row.attempts,
                    "started_at": row.started_at,
                    "finished_at": row.finished_at,
                    "result": row.result,
                    "error": row.error,
                }
            )
        else:
            step.update(
                status=row.status,
                attempts=row.attempts,
                result=row.result,
                error=row.error,
                started_at=row.started_at,
                finished_at=row.finished_at,
            )
    for step in steps.values():
        if step["hosts"]:
            step["status"] = _overall([h["status"] for h in step["hosts"]])
            step["error"] = next((h["error"] for h in step["hosts"] if h["error"]), None)
    measurements: dict[str, Any] = {}
    for m in journal.measurements(run_id):
        measurements.setdefault(
            m.name,
            {
                "value": m.value_seconds,
                "target": m.target_seconds,
                "met": m.met,
                "verdict": _verdict(m.met),
                "source": m.source,
                "detail": m.detail,
            },
        )
    return {
        "id": run.id,
        "runbook": run.runbook,
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
        "steps": list(steps.values()),
        "measurements": measurements,
    }


def _overall(statuses: list[str]) -> str:
    for status in ("failed", "running", "waiting", "rolled_back"):
        if status in statuses:
            return status
    return "succeeded" if statuses else "pending"


def _verdict(met: bool | None) -> str:
    return "no target" if met is None else ("met" if met else "not met")
