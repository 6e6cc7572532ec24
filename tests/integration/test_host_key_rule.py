"""The host-key rule against a real sshd: an inventory asking for accept-new gets it in a
drill, and a live run refuses the same unknown key, for a switch as for a host."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest

from lab.sshd import SshServer
from orchestrator.engine.endpoints import ssh_endpoint, switch_endpoint
from orchestrator.errors import HostKeyRejected
from orchestrator.inventory.models import Inventory
from orchestrator.transports.netdev_connect import open_connection
from orchestrator.transports.ssh import SshTransport

pytestmark = pytest.mark.integration


def inventory(environment: str, server: SshServer, known_hosts: Path) -> Inventory:
    """A host and a switch, both the test sshd, both asking for accept-new."""
    user = getpass.getuser()
    data: dict[str, Any] = {
        "name": "t",
        "environment": environment,
        "defaults": {
            "ssh": {
                "user": user,
                "port": server.port,
                "key_file": str(server.client_key_file),
                "host_key_policy": "accept-new",
                "connect_timeout": 5,
            }
        },
        "known_hosts": str(known_hosts),
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-1", "address": server.listen_address, "site": "dc"}],
        "switches": [
            {
                "name": "sw-1",
                "site": "dc",
                "network": "funds",
                "device_type": "linux",
                "address": server.listen_address,
                "port": server.port,
                "username": user,
                "key_file": str(server.client_key_file),
            }
        ],
    }
    return Inventory.model_validate(data)


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    """A known_hosts file that vouches for nobody yet."""
    path = tmp_path / "known_hosts"
    path.write_text("")
    return path


def test_a_live_run_refuses_an_unknown_switch_key_although_the_inventory_says_accept_new(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    production = inventory("production", sshd_server, known_hosts)
    endpoint = switch_endpoint(production.switch("sw-1"), production, mode="live")
    with pytest.raises(HostKeyRejected, match=r"host key of switch sw-1 .* is not in"):
        open_connection(endpoint)
    assert known_hosts.read_text() == ""


def test_a_live_run_refuses_an_unknown_host_key_although_the_inventory_says_accept_new(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    production = inventory("production", sshd_server, known_hosts)
    endpoint = ssh_endpoint(production.host("db-1"), production, mode="live")
    with SshTransport() as ssh, pytest.raises(HostKeyRejected, match=r"db-1 .* is not in"):
        ssh.run(endpoint, "true", timeout=10)
    assert known_hosts.read_text() == ""


def test_a_drill_records_a_new_switch_key_when_the_inventory_says_accept_new(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    drill = inventory("drill", sshd_server, known_hosts)
    connection = open_connection(switch_endpoint(drill.switch("sw-1"), drill, mode="drill"))
    connection.disconnect()
    assert sshd_server.host_public_key_line in known_hosts.read_text()


def test_a_drill_records_a_new_host_key_when_the_inventory_says_accept_new(
    sshd_server: SshServer, known_hosts: Path
) -> None:
    drill = inventory("drill", sshd_server, known_hosts)
    with SshTransport() as ssh:
        assert ssh.run(ssh_endpoint(drill.host("db-1"), drill, mode="drill"), "true").ok
    assert sshd_server.host_public_key_line in known_hosts.read_text()
