"""The engine: carries runbooks out, records them, resumes them."""

from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.engine.engine import Engine
from orchestrator.engine.outcome import RunOutcome
from orchestrator.engine.state import RunOptions

__all__ = ["Engine", "RunOptions", "RunOutcome", "RunbookRegistry"]
