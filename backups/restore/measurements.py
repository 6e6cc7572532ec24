"""A restore test as measurement rows, beside the drills' (`orchestrator.engine.measure`).

Each test writes rows into the journal's `measurements` table under its test id, with
`source: restore_test`, so that an RTO/RPO report lists restore tests and drills from one
table with the same names:
  rto_seconds          restore + verification time achieved, against the set's RTO
  rpo_seconds          test time minus the snapshot's time, against the set's RPO
  rpo_max_gap_seconds  the largest gap between good backups in the period, against the RPO
A test that failed before it could measure (repository unreachable, no good run) still
writes its rows, with no value: an unproven backup has met no objective, so `met` is
False where there is a target (None where there is none). `detail` names the set, the
snapshot and the test's outcome and cause, so a row says why it is what it is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from backups.restore.record import NO_TARGET, NOT_MEASURED, Measurement, RestoreTestRecord
from orchestrator.journal.records import MeasurementRecord

SOURCE = "restore_test"
NAMES = {"rto": "rto_seconds", "rpo": "rpo_seconds", "max_gap": "rpo_max_gap_seconds"}


def measurement_rows(
    record: RestoreTestRecord, *, rto_target: int | None, rpo_target: int | None
) -> list[MeasurementRecord]:
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    targets = {"rto": rto_target, "rpo": rpo_target, "max_gap": rpo_target}
    rows = []
    for key, name in NAMES.items():
        found = record.measurements.get(key) or Measurement()
        target = found.target_seconds if found.verdict != NOT_MEASURED else targets[key]
        rows.append(
            MeasurementRecord(
                name=name,
                value_seconds=found.seconds,
                target_seconds=None if target is None else float(target),
                met=_met(found, target),
                source=SOURCE,
                detail={
                    "backup_set": record.backup_set,
                    "repository": record.repository,
                    "test_id": record.test_id,
                    "run_id": record.run_id,
                    "snapshot_id": record.snapshot_id,
                    "snapshot_time": record.snapshot_time,
                    "tested_at": record.started_at,
                    "outcome": record.outcome,
                    "cause": record.cause,
                    "verdict": found.verdict,
                },
                recorded_at=now,
            )
        )
    return rows


def _met(found: Measurement, target: int | None) -> bool | None:
    if target is None or found.verdict == NO_TARGET:
        return None
    if found.verdict == NOT_MEASURED or found.seconds is None:
        return False
    return found.seconds <= target
