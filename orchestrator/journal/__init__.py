"""The journal: one append-only, hash-chained record of runs, steps, events and measurements."""

from orchestrator.journal.chain import ChainVerdict
from orchestrator.journal.location import default_journal_url, resolve_journal_url
from orchestrator.journal.store import Journal, RunRecord, StepRecord

__all__ = [
    "ChainVerdict",
    "Journal",
    "RunRecord",
    "StepRecord",
    "default_journal_url",
    "resolve_journal_url",
]
