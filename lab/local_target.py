"""A drill target on this machine alone: one real sshd on loopback and its inventory.

`make drill` uses it to rehearse a runbook end to end over real SSH before (and without)
the full namespace lab. `python -m lab.local_target up|down STATE_DIR`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import yaml

from lab.sshd import SshServer
from orchestrator.identity import terminal_account
from orchestrator.local_machine import find_free_port

INVENTORY_NAME = "inventory.yaml"


def up(state_dir: Path) -> Path:
    """Start (or keep) the target's sshd and write the drill inventory that reaches it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    port_file = state_dir / "port"
    port = int(port_file.read_text()) if port_file.exists() else find_free_port()
    server = SshServer(state_dir / "sshd", port=port)
    server.start()
    port_file.write_text(str(port))
    _seed_report_messages(state_dir / "service" / "messages")
    inventory = state_dir / INVENTORY_NAME
    inventory.write_text(yaml.safe_dump(_inventory(server), sort_keys=False, allow_unicode=True))
    return inventory


def down(state_dir: Path) -> None:
    """Stop the service a drill started and the sshd: nothing of the target keeps running."""
    pid_file = state_dir / "service" / "service.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()
    port_file = state_dir / "port"
    if port_file.exists():
        SshServer(state_dir / "sshd", port=int(port_file.read_text())).stop()


def _seed_report_messages(directory: Path) -> None:
    """A few report-message files, as the credit system leaves them, so RPO has a data point."""
    directory.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for minutes_ago in (30, 20, 10):
        message = directory / f"R{int(now - minutes_ago * 60)}.txt"
        message.write_text("征信报文 sample report message\n", encoding="utf-8")
        os.utime(message, (now - minutes_ago * 60, now - minutes_ago * 60))


def _inventory(server: SshServer) -> dict[str, object]:
    endpoint = server.endpoint("credit-app-1")
    return {
        "name": "local-drill-target",
        "environment": "drill",
        "description": "One real sshd on loopback, started by `make drill` (本机演练目标).",
        "sites": [{"name": "dc-a", "kind": "datacentre"}],
        "hosts": [
            {
                "name": "credit-app-1",
                "address": "127.0.0.1",
                "site": "dc-a",
                "roles": ["credit-app"],
                "ssh": {
                    "user": endpoint.user,
                    "port": server.port,
                    "key_file": str(server.client_key_file),
                    "known_hosts": str(server.known_hosts_file),
                },
            }
        ],
        "contacts": [
            # Whoever runs `make drill-local` is its duty operator (dr knows the OS account).
            {"name": "duty-operator", "role": "duty-operator", "login": terminal_account()[0]},
            {"name": "leadership-chair", "role": "leadership"},
        ],
        "drill": {"auto_approve_by": ["leadership-chair"]},
        "targets": [
            {"system": "credit-report", "category": "information-system", "rto": "15m", "rpo": "1h"}
        ],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python -m lab.local_target up|down STATE_DIR", file=sys.stderr)
        return 2
    state_dir = Path(argv[1]).absolute()
    if argv[0] == "up":
        print(up(state_dir))
    else:
        down(state_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
