"""dr: disaster-recovery and backup orchestrator."""

__version__ = "0.1.0"
