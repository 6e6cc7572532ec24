"""The incident tick's cost on SQLite: what `dr scheduler run` pays every minute.

Opens N incidents and delivers their first notices to a real local SMTP server (aiosmtpd,
from the test extras), then times a tick with nothing due (the steady state) and a tick
where every incident escalates and notifies again. Target: a steady-state tick with 50
open incidents well under the 60 s tick interval (we aim for < 2 s).

    .venv/bin/python bench/incident_tick.py [--incidents 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from orchestrator.incidents import IncidentStore
from orchestrator.incidents.tick import tick
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def inventory_file(directory: Path, port: int) -> Path:
    doc = {
        "name": "bench",
        "environment": "drill",
        "contacts": [
            {"name": "wang", "role": "duty-operator", "email": "wang@bench.invalid"},
            {"name": "zhang", "role": "tech-team", "email": "zhang@bench.invalid"},
        ],
        "escalation": {"blue": ["wang"], "yellow": ["wang", "zhang"]},
        "notifications": {"smtp": {"host": "127.0.0.1", "port": port, "from": "dr@bench.invalid"}},
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def one_round(count: int, port: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        inventory = load_inventory(inventory_file(directory, port))
        journal = Journal(f"sqlite:///{directory}/journal.sqlite3")
        store = IncidentStore(journal)
        for n in range(count):
            store.open(
                inventory_name="bench", inventory_path=None, category="network",
                level="blue", summary=f"lines down {n}", actor="wang", started_at=T0, at=T0,
            )  # fmt: skip
        started = time.perf_counter()
        tick(journal, inventory, T0)  # first notices: N level notices, N mails
        first = time.perf_counter() - started
        started = time.perf_counter()
        tick(journal, inventory, T0 + timedelta(minutes=1))  # nothing due
        steady = time.perf_counter() - started
        started = time.perf_counter()
        # 4 h later: every incident escalates to yellow, and the regulator deadline is overdue
        tick(journal, inventory, T0 + timedelta(hours=4))
        escalating = time.perf_counter() - started
        store.dispose()
        journal.close()
        return first, steady, escalating


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        rounds = [one_round(args.incidents, port) for _ in range(args.repeat)]
    finally:
        controller.stop()
    first, steady, escalating = (statistics.median(column) for column in zip(*rounds, strict=True))
    n = args.incidents
    print(f"{n} open incidents, median of {args.repeat}:")
    print(f"  first tick (N level notices, N emails):          {first:6.2f} s")
    print(f"  steady tick (nothing due):                       {steady:6.2f} s")
    print(f"  escalating tick (N escalations, 4N emails):      {escalating:6.2f} s")


if __name__ == "__main__":
    main()
