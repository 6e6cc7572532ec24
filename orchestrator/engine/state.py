"""What a run knows while it runs: its record, facts, markers, and the tools to reach hosts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.engine.observer import RunObserver
from orchestrator.engine.operator import OperatorIO
from orchestrator.journal import Journal
from orchestrator.journal.records import RunRecord
from orchestrator.text import Lang, Text

if TYPE_CHECKING:
    from orchestrator.identity import Person
    from orchestrator.inventory import Inventory
    from orchestrator.transports.netdev import SwitchSessions
    from orchestrator.transports.ssh import SshTransport


@dataclass
class RunOptions:
    """How the operator asked for the run to be carried out."""

    mode: str
    operator: str
    lang: Lang = "en"
    auto_confirm: bool = False
    reason: str | None = None
    incident_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # The authenticated person at the terminal (`operator` is their recorded name).
    person: Person | None = None


@dataclass
class RunState:
    """Shared by every step of one run (and by the threads of a fan-out)."""

    record: RunRecord
    inventory: Inventory
    journal: Journal
    options: RunOptions
    observer: RunObserver
    operator_io: OperatorIO
    ssh: SshTransport
    switches: SwitchSessions
    facts: dict[str, Any] = field(default_factory=dict)
    markers: dict[str, datetime] = field(default_factory=dict)
    # Where the RPO's data point came from, in each language (`mark_last_data_point`).
    data_point_source: Text | None = None
    pause_requested: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def run_id(self) -> str:
        return self.record.id

    @property
    def is_drill(self) -> bool:
        return self.record.mode == "drill"
