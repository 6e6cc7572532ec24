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
    message: str  # English, as the journal keeps it
    message_zh: str = ""

    def said(self, lang: str) -> str:
        """The message in the operator's language."""
        return self.message_zh if lang == "zh" and self.message_zh else self.message

    @property
    def exit_code(self) -> int:
        return EXIT_BY_STATUS.get(self.status, EXIT_FAILED)
