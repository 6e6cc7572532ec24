"""RTO and RPO achieved, from the run's markers, against the inventory's targets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.engine.incident_link import incident_outage_start
from orchestrator.engine.state import RunState
from orchestrator.journal.records import MeasurementRecord
from orchestrator.runbook import Marker, Runbook


def record_measurements(state: RunState, runbook: Runbook, *, finished_ok: bool) -> None:
    """Record RTO (and RPO where a data point was marked) once per run.

    Called when service is marked restored and again when the run ends; the first call
    that can measure wins, so a resumed run never records a second, later RTO.
    """
    journal = state.journal
    if any(m.source == "runbook" for m in journal.measurements(state.run_id)):
        return
    lost, lost_source = _lost_at(state)
    restored = state.markers.get(Marker.SERVICE_RESTORED.value)
    restored_source = "marker"
    if restored is None:
        if not finished_ok:
            return
        # No explicit marker: the run's successful end is when service was verified.
        restored, restored_source = datetime.now(UTC), "run end"
    rto_target, rpo_target = _targets(state, runbook)
    rto = (restored - lost).total_seconds()
    common: dict[str, Any] = {
        "lost_at": lost.isoformat(),
        "lost_at_source": lost_source,
        "system": runbook.system,
    }
    measurements = [
        _measurement(
            "rto_seconds",
            rto,
            rto_target,
            {
                **common,
                "restored_at": restored.isoformat(),
                "restored_at_source": restored_source,
            },
        ),
    ]
    data_point = state.markers.get("last_data_point")
    if data_point is not None:
        rpo = max(0.0, (lost - data_point).total_seconds())
        measurements.append(
            _measurement(
                "rpo_seconds",
                rpo,
                rpo_target,
                {
                    **common,
                    "last_data_point": data_point.isoformat(),
                    "data_point_source": state.data_point_source,
                },
            )
        )
    for measurement in measurements:
        journal.record_measurement(state.run_id, measurement)


def _lost_at(state: RunState) -> tuple[datetime, str]:
    marked = state.markers.get(Marker.SERVICE_LOST.value)
    # A runbook marks the loss when it has seen it; the incident the run belongs to says
    # when business really stopped, which is earlier when the run started late.
    outage = incident_outage_start(state)
    if outage is not None and (marked is None or outage < marked):
        return outage, f"incident {state.record.incident_id}"
    if marked is not None:
        return marked, "marker"
    # Without a marker, the run's start (the declaration) is when the clock started.
    return datetime.fromisoformat(state.record.started_at), "run start"


def _targets(state: RunState, runbook: Runbook) -> tuple[float | None, float | None]:
    if not runbook.system:
        return None, None
    target = state.inventory.target_for(runbook.system)
    if target is None:
        return None, None
    return float(target.rto), float(target.rpo)


def _measurement(
    name: str, value: float, target: float | None, detail: dict[str, Any]
) -> MeasurementRecord:
    return MeasurementRecord.judged(name, value, target, source="runbook", detail=detail)
