"""What one restore test found: the journal's `restore_test.finished` event and `--json`.

`outcome` is "passed" only when `problems` is empty: a test that restored the files but
not the database, or verified the data but did not meet a target, has failed. There is no
partial success, because a half-proven backup is an unproven one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.errors import EXIT_FAILED, EXIT_OK
from orchestrator.verdicts import NOT_MEASURED, verdict

PASSED, FAILED = "passed", "failed"


@dataclass
class Measurement:
    seconds: float | None = None
    target_seconds: int | None = None
    verdict: str = NOT_MEASURED

    @classmethod
    def of(cls, seconds: float, target: int | None) -> Measurement:
        return cls(round(seconds, 3), target, verdict(seconds, target))


@dataclass
class RestoreTestRecord:
    test_id: str
    backup_set: str
    repository: str
    started_at: str
    finished_at: str | None = None
    outcome: str = FAILED
    cause: str | None = None
    run_id: str | None = None
    snapshot_id: str | None = None  # the run's manifest snapshot
    snapshot_time: str | None = None
    snapshots: dict[str, str] = field(default_factory=dict)  # part -> snapshot id
    bytes: int = 0
    durations: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    files: dict[str, Any] = field(default_factory=dict)
    databases: list[dict[str, Any]] = field(default_factory=list)
    validations: list[dict[str, Any]] = field(default_factory=list)
    measurements: dict[str, Measurement] = field(
        default_factory=lambda: {k: Measurement() for k in ("rto", "rpo", "max_gap")}
    )
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def finish(self, at: datetime) -> None:
        self.finished_at = at.isoformat(timespec="seconds")
        self.outcome = FAILED if self.problems else PASSED
        # Every problem, not only the first: a corrupt pack often breaks several files.
        self.cause = "; ".join(self.problems) if self.problems else None

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.outcome == PASSED else EXIT_FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
