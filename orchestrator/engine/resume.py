"""What `dr resume` checks before it carries a run on, and what it restores."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.engine.state import RunState
from orchestrator.errors import RunNotResumable
from orchestrator.journal.records import RunRecord
from orchestrator.runbook import Runbook
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

FINISHED = frozenset({"succeeded", "rolled_back"})


def check_resumable(
    record: RunRecord, runbook: Runbook, inventory: Inventory, *, allow_changed: bool
) -> None:
    if record.status in FINISHED:
        raise RunNotResumable(
            f"run {record.id} has already ended ({record.status}); start a new run instead"
        )
    if record.status == "running" and _owner_alive(record):
        raise RunNotResumable(
            f"run {record.id} is still being carried out by process {record.owner_pid} on "
            f"{record.owner_host}; wait for it, or stop that process first"
        )
    if allow_changed:
        return
    if runbook.digest != record.runbook_digest:
        raise RunNotResumable(
            f"runbook {runbook.name} has changed since run {record.id} started "
            f"({runbook.source_file}); review the change, then resume with --allow-changed"
        )
    if inventory.digest != record.inventory_digest:
        raise RunNotResumable(
            f"inventory {record.inventory_path} has changed since run {record.id} started; "
            "review the change, then resume with --allow-changed"
        )


def restore_state(state: RunState) -> None:
    """Bring back the facts and markers the run had journaled before it stopped."""
    for event in state.journal.events(state.run_id, kinds=("fact", "marker")):
        if event.kind == "fact":
            state.facts[event.data["key"]] = event.data["value"]
            continue
        name = event.data["marker"]
        state.markers.setdefault(name, datetime.fromisoformat(event.data["at"]))
        if name == "last_data_point":
            source = event.data.get("source")
            # A marker journaled before sources were worded in Chinese has only English.
            if source:
                said_zh = str(event.data.get("source_zh") or source)
                state.data_point_source = Text(zh=said_zh, en=str(source))


def _owner_alive(record: RunRecord) -> bool:
    if record.owner_pid is None or record.owner_host != socket.gethostname():
        # Another machine's process cannot be checked from here: trust the record only
        # if it is ours to check. A run left "running" on another host needs that host.
        return record.owner_host not in (None, socket.gethostname())
    if record.owner_pid == os.getpid():
        return False
    try:
        os.kill(record.owner_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _same_program(record.owner_pid)


def _same_program(pid: int) -> bool:
    """A recycled pid belonging to another program does not hold the run."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ")
    except OSError:
        return True
    return b"dr" in cmdline or b"orchestrator" in cmdline or b"python" in cmdline
