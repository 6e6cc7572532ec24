"""How a run ended, and the exit code that says so."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, EXIT_WAITING

EXIT_BY_STATUS = {
    "succeeded": EXIT_OK,
    "failed": EXIT_FAILED,
    "rolled_back": EXIT_FAILED,
    "aborted": EXIT_STOPPED,
    "paused": EXIT_STOPPED,
    "waiting": EXIT_WAITING,
}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    message: str

    @property
    def exit_code(self) -> int:
        return EXIT_BY_STATUS.get(self.status, EXIT_FAILED)
