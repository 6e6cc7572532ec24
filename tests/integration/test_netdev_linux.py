"""netmiko's `linux` device type against a real sshd playing a lab switch.

The switch is a throwaway network namespace `drnd-<random>` of our own (the shared lab's
`drlab-*` namespaces belong to other tests): a management veth to the root namespace,
bridge br1, and two ports whose far ends stay inside it, ln-1 (a line: its far end
far-1 plays the other end of the line) and xc-1 (a cross-connect). sshd runs inside the
namespace, so the session runs exactly what it runs on a lab switch: plain `ip link`.
"""

from __future__ import annotations

import json
import random
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from lab import netns
from lab.sshd import SshServer
from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.transports.netdev import (
    PortStatus,
    SwitchEndpoint,
    SwitchOperationFailed,
    SwitchSessions,
)
from tests.support.sshd_fixtures import MakeSshd

pytestmark = pytest.mark.integration

PASSWORD = "pw-Never-Show-4711"


@dataclass(frozen=True)
class SwitchNamespace:
    name: str
    address: str


def bridge_port(name: str, admin_up: bool, link_up: bool, domain: str | None) -> PortStatus:
    """A lab switch port as dr reads it: in a bridge, or detached."""
    return PortStatus(name, admin_up, link_up, domain, "bridge", detached=domain is None)


def _free_subnet_octet() -> int:
    used = {cidr for _, cidr in netns.addresses(None)}
    for octet in random.sample(range(256), 256):
        if not any(cidr.startswith(f"10.79.{octet}.") for cidr in used):
            return octet
    raise RuntimeError("no free 10.79.X.0/30 for the test switch")


@pytest.fixture(scope="module")
def switch_ns() -> Iterator[SwitchNamespace]:
    suffix = secrets.token_hex(3)
    name, root_end = f"drnd-{suffix}", f"drnd{suffix}r"
    octet = _free_subnet_octet()
    try:
        netns.create_namespace(name)
        netns.create_veth(None, root_end, name, "mgmt0")
        netns.add_address(None, root_end, f"10.79.{octet}.1/30")
        netns.add_address(name, "mgmt0", f"10.79.{octet}.2/30")
        netns.set_link(None, root_end, True)
        netns.set_link(name, "mgmt0", True)
        netns.create_bridge(name, "br1")
        netns.set_link(name, "br1", True)
        for port, far in (("ln-1", "far-1"), ("xc-1", "xcfar-1")):
            netns.create_veth(name, port, name, far)
        yield SwitchNamespace(name, f"10.79.{octet}.2")
    finally:
        # Stops the sshd inside as well; the root end of the veth goes with its peer.
        netns.delete_namespace(name)
        netns.delete_link(None, root_end)


@pytest.fixture
def server(switch_ns: SwitchNamespace, make_sshd: MakeSshd) -> SshServer:
    """A fresh sshd in the switch namespace, the ports as the seed starts them: ln-1 in
    br1, xc-1 detached, every link up."""
    ns = switch_ns.name
    for link in ("ln-1", "far-1", "xc-1", "xcfar-1"):
        netns.set_link(ns, link, True)
    netns.attach(ns, "ln-1", "br1")
    netns.detach(ns, "xc-1")
    return make_sshd(port=22, netns=ns, listen_address=switch_ns.address)


@pytest.fixture
def endpoint(server: SshServer) -> SwitchEndpoint:
    return SwitchEndpoint(
        name="sw-test",
        device_type="linux",
        address=server.listen_address,
        port=server.port,
        username="root",
        key_file=server.client_key_file,
        known_hosts=server.known_hosts_file,
        timeout=5,
    )


@pytest.fixture
def switches(tmp_path: Path) -> Iterator[SwitchSessions]:
    with SwitchSessions(session_log_dir=tmp_path / "sessions") as sessions:
        yield sessions


def _new_key(directory: Path, name: str) -> Path:
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def test_ports_and_port_status(switches: SwitchSessions, endpoint: SwitchEndpoint) -> None:
    device = switches.device(endpoint)
    ports = {status.name: status for status in device.ports()}
    assert {"mgmt0", "ln-1", "far-1", "xc-1", "xcfar-1"} <= set(ports)
    assert "br1" not in ports and "lo" not in ports
    assert ports["ln-1"] == bridge_port("ln-1", True, True, "br1")
    assert device.port_status("xc-1") == bridge_port("xc-1", True, True, None)
    # What went over the wire is what a lab switch runs, nothing wrapped around it.
    assert [exchange.sent for exchange in device.transcript] == [
        ("ip -j -d link show",),
        ("ip -j -d link show",),
    ]


def test_detach_keeps_the_line_carrier_observable(
    switches: SwitchSessions, endpoint: SwitchEndpoint, switch_ns: SwitchNamespace
) -> None:
    device = switches.device(endpoint)
    change = device.detach("ln-1")
    assert change.changed
    assert change.after == bridge_port("ln-1", True, True, None)
    assert netns.link_info(switch_ns.name, "ln-1").master is None
    assert [e.sent for e in change.exchanges if e.sent[0].startswith("ip link")] == [
        ("ip link set dev ln-1 nomaster",)
    ]

    netns.set_link(switch_ns.name, "far-1", False)  # the line is cut at its far end
    assert device.port_status("ln-1") == bridge_port("ln-1", True, False, None)
    netns.set_link(switch_ns.name, "far-1", True)
    assert device.port_status("ln-1").link_up

    assert not device.detach("ln-1").changed


def test_the_cable_swap_attach_is_idempotent(
    switches: SwitchSessions, endpoint: SwitchEndpoint, switch_ns: SwitchNamespace
) -> None:
    device = switches.device(endpoint)
    device.detach("ln-1")
    attached = device.attach("xc-1", "br1")
    assert attached.changed
    assert attached.after == bridge_port("xc-1", True, True, "br1")
    assert netns.link_info(switch_ns.name, "xc-1").master == "br1"
    assert "ip link set dev xc-1 master br1" in attached.sent

    again = device.attach("xc-1", "br1")
    assert not again.changed
    assert again.sent == ["ip -j -d link show"]
    assert device.save().sent == []  # a lab switch's configuration is runtime only
    json.dumps(attached.to_record())


def test_disable_and_enable(
    switches: SwitchSessions, endpoint: SwitchEndpoint, switch_ns: SwitchNamespace
) -> None:
    device = switches.device(endpoint)
    down = device.disable("ln-1")
    assert down.after == bridge_port("ln-1", False, False, "br1")
    assert not netns.link_info(switch_ns.name, "ln-1").up
    assert not netns.link_info(switch_ns.name, "far-1").carrier  # the far end sees it
    assert not device.disable("ln-1").changed

    up = device.enable("ln-1")
    assert up.changed
    assert up.after is not None and up.after.admin_up
    assert netns.link_info(switch_ns.name, "ln-1").up


def test_a_refused_command_fails_and_the_session_stays_usable(
    switches: SwitchSessions, endpoint: SwitchEndpoint
) -> None:
    device = switches.device(endpoint)
    with pytest.raises(SwitchOperationFailed, match=r"refused `ip link set dev ln-1 master br9`"):
        device.attach("ln-1", "br9")
    with pytest.raises(SwitchOperationFailed, match="no layer-2 port 'ln-9'"):
        device.disable("ln-9")
    assert device.port_status("ln-1").domain == "br1"


def test_one_session_per_switch_shared_by_threads(
    switches: SwitchSessions, endpoint: SwitchEndpoint, tmp_path: Path
) -> None:
    device = switches.device(endpoint)
    assert switches.device(endpoint) is device
    results: list[PortStatus] = []
    threads = [
        threading.Thread(target=lambda: results.append(device.port_status("ln-1")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and {r.domain for r in results} == {"br1"}
    switches.close()
    (log,) = (tmp_path / "sessions").iterdir()  # one login, one session log
    assert "ip -j -d link show" in log.read_text()


def test_an_unknown_host_key_is_refused(endpoint: SwitchEndpoint, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with SwitchSessions() as switches:
        device = switches.device(replace(endpoint, known_hosts=empty))
        with pytest.raises(HostKeyRejected) as refused:
            device.ports()
    message = refused.value.message
    assert f"sw-test ({endpoint.address}:22)" in message and str(empty) in message


def test_a_changed_host_key_is_refused(endpoint: SwitchEndpoint, tmp_path: Path) -> None:
    other = _new_key(tmp_path, "other_host_key").with_suffix(".pub").read_text().split()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{endpoint.address} {other[0]} {other[1]}\n")
    with SwitchSessions() as switches:
        device = switches.device(replace(endpoint, known_hosts=known_hosts, password=PASSWORD))
        with pytest.raises(HostKeyRejected, match="HOST KEY CHANGED for switch sw-test") as err:
            device.ports()
    assert PASSWORD not in err.value.message


def test_accept_new_records_the_key_then_holds_to_it(
    endpoint: SwitchEndpoint, server: SshServer, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    with SwitchSessions() as switches:
        learning = replace(endpoint, known_hosts=known_hosts, host_key_policy="accept-new")
        assert switches.device(learning).port_status("ln-1").domain == "br1"
    assert server.host_public_key_line in known_hosts.read_text()
    with SwitchSessions() as switches:
        strict = replace(endpoint, known_hosts=known_hosts)
        assert switches.device(strict).port_status("ln-1").admin_up


def test_a_wrong_key_is_refused_without_showing_the_password(
    endpoint: SwitchEndpoint, tmp_path: Path
) -> None:
    stranger = replace(endpoint, key_file=_new_key(tmp_path, "stranger"), password=PASSWORD)
    assert PASSWORD not in repr(stranger)
    with SwitchSessions() as switches, pytest.raises(TransportError) as refused:
        switches.device(stranger).ports()
    assert not isinstance(refused.value, HostKeyRejected)
    message = refused.value.message
    assert "authentication as root failed on switch sw-test" in message
    assert "a password" in message and PASSWORD not in message


def test_an_unreachable_switch_is_named_without_the_password(
    endpoint: SwitchEndpoint, tmp_path: Path
) -> None:
    closed = replace(endpoint, port=2, password=PASSWORD, timeout=2)
    known_hosts = tmp_path / "known_hosts"
    key_line = endpoint.known_hosts_path.read_text().split(maxsplit=1)[1]
    known_hosts.write_text(f"[{endpoint.address}]:2 {key_line}")
    with SwitchSessions() as switches, pytest.raises(TransportError) as refused:
        switches.device(replace(closed, known_hosts=known_hosts)).ports()
    message = refused.value.message
    assert f"cannot reach switch sw-test ({endpoint.address}:2)" in message
    assert PASSWORD not in message
