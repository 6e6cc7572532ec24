"""Put what the lab itself saw during a drill into the journal, beside the runbook's own
figures, so reports can show both.

After a drill on the lab, the drill tooling (`dr lab observe RUN_ID --branch B`, the
tests, the benchmarks) reads the branch prober's log for the outage the run ended and,
given the database, the load generator's acknowledged writes that were lost. Each is a
measurement with source "lab": the engine's own (source "runbook") stays untouched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.credit.observe import Outage, lost_writes, observed_outages
from lab.errors import LabError
from orchestrator.journal import Journal
from orchestrator.journal.records import MeasurementRecord


def record_lab_observation(
    journal: Journal,
    run_id: str,
    observe_dir: Path,
    branch: str,
    *,
    credit_dsn: str | None = None,
    database_host: str | None = None,
) -> list[MeasurementRecord]:
    """Record the lab's RTO (and, with `credit_dsn`, RPO) for a finished run; idempotent.
    `database_host` names where `credit_dsn` points (the VIP's holder), for the record."""
    run = journal.get_run(run_id)
    existing = [m for m in journal.measurements(run_id) if m.source == "lab"]
    if existing:
        return existing
    if run.finished_at is None:
        raise LabError(f"run {run_id} has not finished; observe it once it has")
    started, finished = _at(run.started_at), _at(run.finished_at)
    targets = {m.name: m.target_seconds for m in journal.measurements(run_id)}
    outage = _outage_ended_by(observe_dir / f"prober-{branch}.jsonl", started, finished)
    if outage is None:
        raise LabError(
            f"the prober of {branch} saw no outage that run {run_id} ended; was the drill "
            "run against this branch, with the lab up?"
        )
    records = [
        _measurement(
            "rto_seconds",
            outage.seconds,
            targets.get("rto_seconds"),
            {
                "observer": f"prober-{branch}",
                "outage_start": outage.start.isoformat(),
                "outage_end": outage.end.isoformat(),
                "resolved": outage.resolved,
            },
        )
    ]
    if credit_dsn is not None:
        lost = lost_writes(observe_dir / "loadgen.jsonl", credit_dsn, until=finished)
        records.append(
            _measurement(
                "rpo_seconds",
                lost.seconds,
                targets.get("rpo_seconds"),
                {
                    "observer": "loadgen",
                    "lost_acknowledged_writes": len(lost),
                    "checked_on": database_host,
                    "first_lost_at": _iso(lost.first_acked_at),
                    "last_lost_at": _iso(lost.last_acked_at),
                },
            )
        )
    for record in records:
        journal.record_measurement(run_id, record)
    return records


def _outage_ended_by(log: Path, started: datetime, finished: datetime) -> Outage | None:
    """The longest outage still going when the run started or beginning during it: the
    fault the drill answered. Unclipped, so it counts from when branches lost service."""
    overlapping = [o for o in observed_outages(log) if o.end >= started and o.start <= finished]
    return max(overlapping, key=lambda o: o.seconds, default=None)


def _measurement(
    name: str, seconds: float, target: float | None, detail: dict[str, Any]
) -> MeasurementRecord:
    return MeasurementRecord.judged(name, seconds, target, source="lab", detail=detail)


def _at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
