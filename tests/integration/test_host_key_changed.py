"""A changed SSH host key is not a host that is down (issue 17, item 3), against a real
sshd: known_hosts vouches for another key under the server's name, as after a
man-in-the-middle or an unannounced rebuild. The transport raises HostKeyRejected, the
pair runbooks' reachability check lets it through, and a run that asks stops on it at
once, saying so: no retry, no fencing of a "dead" primary, no waiting it out."""

from __future__ import annotations

import getpass
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from lab.sshd import SshServer
from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.engine.endpoints import ssh_endpoint
from orchestrator.errors import HostKeyRejected
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.journal import Journal
from orchestrator.transports.known_hosts import known_hosts_name
from orchestrator.transports.ssh import SshTransport

pytestmark = pytest.mark.integration

RUNBOOKS = Path(__file__).resolve().parents[1] / "data" / "host_key_runbooks"


@pytest.fixture
def inventory(tmp_path: Path, sshd_server: SshServer) -> Inventory:
    """A drill pair whose primary is the test sshd, with a known_hosts file that holds a
    different key for it."""
    other = tmp_path / "other_host_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "other", "-f", str(other)],
        check=True,
        timeout=30,
    )
    key_type, key_data, *_ = other.with_suffix(".pub").read_text().split()
    name = known_hosts_name(sshd_server.listen_address, sshd_server.port)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{name} {key_type} {key_data}\n")
    document = {
        "name": "host-key-test",
        "environment": "drill",
        "defaults": {
            "ssh": {
                "user": getpass.getuser(),
                "port": sshd_server.port,
                "key_file": str(sshd_server.client_key_file),
                "host_key_policy": "strict",
                "connect_timeout": 5,
            }
        },
        "known_hosts": str(known_hosts),
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": "db-1", "address": sshd_server.listen_address, "site": "dc"},
            {"name": "db-2", "address": "127.0.0.2", "site": "dc"},
        ],
        "host_pairs": [
            {
                "name": "credit",
                "service": "credit-reporting",
                "primary": "db-1",
                "standby": "db-2",
                "vip": "10.99.0.10/24",
                "fencing": [{"method": "ssh"}],
            }
        ],
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_inventory(path)


def test_the_reachability_check_raises_host_key_rejected(inventory: Inventory) -> None:
    endpoint = ssh_endpoint(inventory.host("db-1"), inventory, mode="drill")
    with SshTransport() as ssh, pytest.raises(HostKeyRejected, match="HOST KEY CHANGED for db-1"):
        ssh.check_reachable(endpoint)


@pytest.mark.parametrize(
    ("runbook", "step"),
    [
        ("probe-primary", "primary-answers"),  # the cutover's "is the primary down?"
        ("fence-primary", "fence-over-ssh"),  # fencing over SSH, then the next method
        ("wait-for-primary-down", "primary-down"),  # a wait that would poll until timeout
    ],
)
def test_a_run_stops_on_a_changed_key_without_calling_the_host_down(
    inventory: Inventory, tmp_path: Path, runbook: str, step: str
) -> None:
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    engine = Engine(journal, RunbookRegistry.discover([RUNBOOKS]))
    started = time.monotonic()
    outcome = engine.start(runbook, inventory, RunOptions(mode="drill", operator="duty"))
    elapsed = time.monotonic() - started
    assert outcome.status == "failed", outcome.message
    [record] = [s for s in journal.steps(outcome.run_id) if s.step_id == step]
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("HOST KEY CHANGED for db-1 (127.0.0.1:")
    assert "man-in-the-middle" in record.error
    assert "is down" not in record.error and "does not answer" not in record.error
    assert record.attempts == 1  # retries=3 in the runbook: none was used
    assert elapsed < 30  # the wait's 60 s timeout was not waited out
    journal.close()
