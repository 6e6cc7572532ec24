"""How the engine asks a person something, without knowing whether a terminal is there."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    # Nobody can answer here (no terminal): the run pauses and tells how to go on.
    UNAVAILABLE = "unavailable"


class OperatorIO(Protocol):
    """Implemented by the CLI (rich prompts) and by tests (scripted answers)."""

    def ask_done(self, title: str, instructions: str, hosts: list[str]) -> Answer:
        """A manual step: show the instructions, ask whether it is done."""
        ...

    def ask_proceed(self, title: str, changes: list[str]) -> Answer:
        """Before a destructive step in a live run. `changes`: what it will change, one
        sentence per device, in the operator's language (engine/confirmation.py)."""
        ...

    def wait_notice(self, message: str) -> None:
        """Tell the operator the run is waiting on someone else (an approval)."""
        ...


class NoOperator:
    """No terminal: every question pauses the run."""

    def ask_done(self, title: str, instructions: str, hosts: list[str]) -> Answer:
        return Answer.UNAVAILABLE

    def ask_proceed(self, title: str, changes: list[str]) -> Answer:
        return Answer.UNAVAILABLE

    def wait_notice(self, message: str) -> None:
        return None
