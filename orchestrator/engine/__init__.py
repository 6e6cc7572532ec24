"""The engine: carries runbooks out, records them, resumes them.

Its names load when first used (PEP 562), so a module that only needs the engine's words
(`orchestrator.engine.messages`: the reports, the CLI's step words) does not bring in
the transports (paramiko, netmiko) that running a step needs."""

from __future__ import annotations

from importlib import import_module
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
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
