"""The engine: carries runbooks out, records them, resumes them.

`from orchestrator.engine import Engine` works as ever, but the engine (which brings every
transport: paramiko, netmiko, pymodbus) is imported only when one of these names is first
asked for, not by whoever imports a light submodule such as orchestrator.engine.messages:
`dr backup run` uses the messages and never the engine, and its start is measured
against raw restic (bench/backup_vs_restic.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.engine.discovery import RunbookRegistry
    from orchestrator.engine.engine import Engine
    from orchestrator.engine.outcome import RunOutcome
    from orchestrator.engine.state import RunOptions

__all__ = ["Engine", "RunOptions", "RunOutcome", "RunbookRegistry"]

_WHERE = {
    "Engine": "orchestrator.engine.engine",
    "RunOptions": "orchestrator.engine.state",
    "RunOutcome": "orchestrator.engine.outcome",
    "RunbookRegistry": "orchestrator.engine.discovery",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
