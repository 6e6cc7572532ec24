"""A restore test as measurement rows, beside the drills' (`orchestrator.engine.measure`).

Each test writes rows into the journal's `measurements` table under its test id, with
`source: restore_test`, so that an RTO/RPO report lists restore tests and drills from one
table with the same names:
  rto_seconds          restore + verification time achieved, against the set's RTO
  rpo_seconds          test time minus the snapshot's time, against the set's RPO
  rpo_max_gap_seconds  the largest gap between good backups in the period, against the RPO
A test that failed before it could measure (repository unreachable, no good run) still
writes its rows, with no value: an unproven backup has met no objective, so `met` is
False where there is a target (None where there is none), by the one rule in
`orchestrator.verdicts`. `detail` names the set, the snapshot and the test's
outcome and cause, so a row says why it is what it is.
"""

from __future__ import annotations

from backups.restore.record import Measurement, RestoreTestRecord
from orchestrator.journal.records import MeasurementRecord
from orchestrator.verdicts import NOT_MEASURED

SOURCE = "restore_test"
NAMES = {"rto": "rto_seconds", "rpo": "rpo_seconds", "max_gap": "rpo_max_gap_seconds"}


def measurement_rows(
    record: RestoreTestRecord, *, rto_target: int | None, rpo_target: int | None
) -> list[MeasurementRecord]:
    targets = {"rto": rto_target, "rpo": rpo_target, "max_gap": rpo_target}
    rows = []
    for key, name in NAMES.items():
        found = record.measurements.get(key) or Measurement()
        target = found.target_seconds if found.verdict != NOT_MEASURED else targets[key]
        rows.append(
            MeasurementRecord.judged(
                name,
                found.seconds,
                None if target is None else float(target),
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
            )
        )
    return rows
