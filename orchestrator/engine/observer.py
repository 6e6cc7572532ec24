"""What the engine reports while it runs; the CLI renders it, tests collect it."""

from __future__ import annotations

from typing import Protocol


class RunObserver(Protocol):
    def run_started(self, run_id: str, runbook: str, mode: str, resumed: bool) -> None: ...

    def step_started(self, path: str, title: str, hosts: list[str]) -> None: ...

    def step_finished(self, path: str, status: str, detail: str) -> None: ...

    def host_finished(self, path: str, host: str, status: str, detail: str) -> None: ...

    def message(self, text: str) -> None: ...


class SilentObserver:
    def run_started(self, run_id: str, runbook: str, mode: str, resumed: bool) -> None:
        return None

    def step_started(self, path: str, title: str, hosts: list[str]) -> None:
        return None

    def step_finished(self, path: str, status: str, detail: str) -> None:
        return None

    def host_finished(self, path: str, host: str, status: str, detail: str) -> None:
        return None

    def message(self, text: str) -> None:
        return None
