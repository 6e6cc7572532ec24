"""How a run ended, and the exit code that says so."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, EXIT_PAUSED

EXIT_BY_STATUS = {
    "succeeded": EXIT_OK,
    "failed": EXIT_FAILED,
    "rolled_back": EXIT_FAILED,
    "aborted": EXIT_ABORTED,
    "paused": EXIT_ABORTED,
    "waiting": EXIT_PAUSED,
}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    message: str

    @property
    def exit_code(self) -> int:
        return EXIT_BY_STATUS.get(self.status, EXIT_FAILED)
