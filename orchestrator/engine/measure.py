"""RTO and RPO achieved, from the run's markers, against the inventory's targets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from orchestrator.engine.incident_link import incident_outage_start
from orchestrator.engine.state import RunState
from orchestrator.journal.records import MeasurementRecord
from orchestrator.runbook import Marker, Runbook
from orchestrator.service_watch.outages import Observed, Scope, outage_start, restored_at


def record_measurements(state: RunState, runbook: Runbook, *, finished_ok: bool) -> None:
    """Record RTO (and RPO where a data point was marked) once per run.

    Called when service is marked restored and again when the run ends; the first call
    that can measure wins, so a resumed run never records a second, later RTO.
    """
    journal = state.journal
    if any(m.source == "runbook" for m in journal.measurements(state.run_id)):
        return
    lost, lost_source = _lost_at(state, runbook)
    verified = state.markers.get(Marker.SERVICE_RESTORED.value)
    verified_source = "marker"
    if verified is None:
        if not finished_ok:
            return
        # No explicit marker: the run's successful end is when service was verified.
        verified, verified_source = datetime.now(UTC), "run end"
    restored = verified
    restored_source = _Source(verified_source, _ZH_RESTORED[verified_source])
    back = _watched_restoration(state, runbook, lost, verified)
    if back is not None:
        # The runbook verified (and held) what the users already had back by then.
        restored = back.at
        restored_source = _Source(
            back.describe("first passing probe"), back.describe_zh("首次探测恢复")
        )
    rto_target, rpo_target = _targets(state, runbook)
    rto = (restored - lost).total_seconds()
    common: dict[str, Any] = {
        "lost_at": lost.isoformat(),
        "lost_at_source": lost_source.en,
        "lost_at_source_zh": lost_source.zh,
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
                "restored_at_source": restored_source.en,
                "restored_at_source_zh": restored_source.zh,
                "verified_at": verified.isoformat(),
            },
        ),
    ]
    data_point = state.markers.get("last_data_point")
    if data_point is not None:
        source = state.data_point_source
        rpo = max(0.0, (lost - data_point).total_seconds())
        measurements.append(
            _measurement(
                "rpo_seconds",
                rpo,
                rpo_target,
                {
                    **common,
                    "last_data_point": data_point.isoformat(),
                    "data_point_source": source.en if source else None,
                    "data_point_source_zh": source.zh if source else None,
                },
            )
        )
    for measurement in measurements:
        journal.record_measurement(state.run_id, measurement)


class _Source(NamedTuple):
    """Where a clock's moment came from, for the record and the reports (en, zh)."""

    en: str
    zh: str


# The clock's two ends as a Chinese reader names them (the English stays the journal's).
_ZH_LOST = {"marker": "预案的“业务中断”标记", "run start": "运行开始"}
_ZH_RESTORED = {"marker": "预案的“业务恢复”标记", "run end": "运行结束"}


def _lost_at(state: RunState, runbook: Runbook) -> tuple[datetime, _Source]:
    """The earliest word of the loss: the runbook's marker (when it saw it), the run's
    incident (when business stopped, as declared), the service watch's first failed
    probe of the outage in progress; else the run's start (the declaration)."""
    marked = state.markers.get(Marker.SERVICE_LOST.value)
    started = datetime.fromisoformat(state.record.started_at)
    candidates: list[tuple[datetime, _Source]] = []
    if marked is not None:
        candidates.append((marked, _Source("marker", _ZH_LOST["marker"])))
    outage = incident_outage_start(state)
    if outage is not None:
        incident = state.record.incident_id
        candidates.append((outage, _Source(f"incident {incident}", f"事件 {incident}")))
    scope = _scope(state, runbook)
    if scope is not None:
        seen = outage_start(state.journal, scope, marked or started)
        if seen is not None:
            source = _Source(seen.describe("first failed probe"), seen.describe_zh("首次探测失败"))
            candidates.append((seen.at, source))
    if not candidates:
        return started, _Source("run start", _ZH_LOST["run start"])
    return min(candidates, key=lambda c: c[0])


def _watched_restoration(
    state: RunState, runbook: Runbook, lost: datetime, verified: datetime
) -> Observed | None:
    scope = _scope(state, runbook)
    if scope is None:
        return None
    return restored_at(state.journal, scope, lost, verified)


def _scope(state: RunState, runbook: Runbook) -> Scope | None:
    if runbook.outage_watch is None:
        return None
    try:
        service, vantage = runbook.outage_watch.resolve(dict(state.record.params))
    except (KeyError, IndexError, ValueError):
        return None  # a template naming a parameter the run lacks: nothing to look up
    if not service and state.inventory.host_pairs:
        service = state.inventory.host_pairs[0].name  # an empty `pair`: the first one
    return Scope(service, vantage)


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
