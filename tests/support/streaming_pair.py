"""A real PostgreSQL 15 primary and its streaming standby (pg_basebackup -R) on free
loopback ports, outside the lab, and an inventory naming them as a host pair whose
control commands run over this machine's real sshd.

Each host's control commands run a small host script that drives its own server with
the lab's code (as `dr-lab-host` does on the lab), so the text the parsers read is what
a production host prints.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.postgres import PostgresServer
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.lag import IDLE_WAL_BYTES, measure

ROOT = Path(__file__).resolve().parents[2]

HOST_SCRIPT = """\
import json, sys
from pathlib import Path
from lab.postgres import PostgresServer
from lab.standby_control import act_on_standby
servers = json.loads(Path(__file__).with_suffix(".json").read_text())
host, action = sys.argv[1], sys.argv[2]
data_dir, port = servers[host]
server = PostgresServer(Path(data_dir), port=port)
if action == "db-status":
    print(server.status_report(), end="")
else:
    sys.exit(act_on_standby(server, action, []))
"""

# A runbook with the cutover's lag gate and a stand-in for the promotion after it.
GATE_RUNBOOK = """\
from orchestrator.runbook import Runbook
from runbooks import _dual_host as pair_ops
from runbooks import _lag_gate as lag_gate

rb = Runbook("lag-gate-only", title="lag gate", system="credit",
             params={**pair_ops.PAIR_PARAMS, **lag_gate.GATE_PARAMS})
lag_gate.add_gate(rb)

@rb.action("promote-standby", title="stand-in for the promotion")
def promote(ctx):
    ctx.remember("promoted", True)
"""


@dataclass
class Pair:
    primary: PostgresServer
    standby: PostgresServer
    database: str

    def write(self, rows: int = 50) -> None:
        values = ", ".join(f"('{uuid.uuid4().hex}')" for _ in range(rows))
        self.primary.psql(f"INSERT INTO ledger (note) VALUES {values}", self.database)

    def caught_up(self) -> bool:
        lag = measure(self.standby.standby_status(), self.primary.standby_status())
        return lag.bytes is not None and lag.bytes <= IDLE_WAL_BYTES


@contextmanager
def streaming_pair(workdir: Path, prefix: str = "lag") -> Iterator[Pair]:
    """A primary of our own (tests change its settings, stop it) and its streaming
    standby, caught up with one committed write; both stopped afterwards."""
    base = workdir / f"{prefix}-{uuid.uuid4().hex[:6]}"
    primary = PostgresServer(
        base / "a" / "data", port=find_free_port(), name=f"dr-{prefix}-a",
        superuser_password=secrets.token_urlsafe(18),
    )  # fmt: skip
    standby = PostgresServer(base / "b" / "data", port=find_free_port(), name=f"dr-{prefix}-b")
    primary.init(fast=True)
    primary.start()
    password = secrets.token_urlsafe(18)
    primary.create_role("replicator", password, replication=True)
    primary.create_database("credit")
    primary.psql("CREATE TABLE ledger (id serial PRIMARY KEY, note text)", "credit")
    try:
        standby.init_standby_from(primary, "replicator", password)
        standby.start()
        made = Pair(primary, standby, "credit")
        made.write(1)
        assert wait_until(made.caught_up, timeout=30)
        yield made
    finally:
        standby.stop("immediate")
        primary.stop("immediate")


def pair_inventory(tmp_path: Path, sshd: Any, pair: Pair, **pair_fields: Any) -> Path:
    """An inventory whose pair `credit` is dc-a (the primary) and dc-b (the standby), both
    reached over `sshd` and each running the host script on its own server."""
    script = tmp_path / "pair_host.py"
    script.write_text(HOST_SCRIPT)
    servers = {"dc-a": pair.primary, "dc-b": pair.standby}
    script.with_suffix(".json").write_text(
        json.dumps({name: [str(s.data_dir), s.port] for name, s in servers.items()})
    )
    program = f"PYTHONPATH={ROOT} {sys.executable} {script} {{host}}"
    actions = ("db_status", "db_replicas", "db_synchronous_on", "db_synchronous_off")
    ssh = {
        "port": sshd.port,
        "user": sshd.endpoint("dc-a").user,
        "key_file": str(sshd.client_key_file),
        "known_hosts": str(sshd.known_hosts_file),
    }
    document = {
        "name": "lag-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": name, "address": "127.0.0.1", "site": "dc", "roles": ["db"], "ssh": ssh}
            for name in ("dc-a", "dc-b")
        ],
        "host_pairs": [
            {
                "name": "credit",
                "service": "credit-report",
                "primary": "dc-a",
                "standby": "dc-b",
                "vip": "10.99.0.10/24",
                "control": {a: f"{program} {a.replace('_', '-')}" for a in actions},
                **pair_fields,
            }
        ],
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator"},
            {"name": "director-li", "role": "leadership"},
        ],
        # Nobody approves unattended: an approval step waits for a person.
        "drill": {"auto_approve_by": []},
        "scheduler": {"textfile_dir": str(tmp_path / "textfile")},
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def gate_runbooks(tmp_path: Path) -> Path:
    """A runbook directory (DR_RUNBOOKS) holding `lag-gate-only`."""
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir(exist_ok=True)
    (runbooks / "lag_gate_only.py").write_text(GATE_RUNBOOK)
    return runbooks


def dr_environment(tmp_path: Path) -> dict[str, str]:
    """`dr`'s environment for a test: its own SQLite journal and state, English."""
    return {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path / 'journal.sqlite3'}",
        "DR_LANG": "en",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
