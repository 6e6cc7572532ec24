"""Switch command sets for the vendors the lab cannot run (Cisco IOS, Huawei, H3C).

Each test drives a real `NetDevice` over a `RecordedSession` from tests/data/netdev/:
the replay fails on any call that is not the next recorded one, and the test spells out
the expected configuration lines itself, so neither the code nor a recording can drift
alone. The recordings are representative transcripts, not captures from real devices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import UserInputError
from orchestrator.transports.netdev import (
    NetDevice,
    PortStatus,
    SwitchOperationFailed,
)
from orchestrator.transports.netdev_commands import check_domain, check_port, command_set
from orchestrator.transports.netdev_parsers import ParseError, parse_linux
from orchestrator.transports.netdev_replay import RecordedCall, RecordedSession, ReplayMismatch

DATA = Path(__file__).parent.parent / "data" / "netdev"

# Port names per vendor, and the exact lines each operation must send.
VENDORS: dict[str, dict[str, Any]] = {
    "cisco_ios": {
        "line": "GigabitEthernet1/0/1",
        "tellers": "GigabitEthernet1/0/2",
        "xc": "GigabitEthernet1/0/3",
        "xc_short": "Gi1/0/3",
        "trunk": "GigabitEthernet1/0/24",
        "status": ["show interfaces status", "show interfaces switchport"],
        "detach": [
            "vlan 999",
            "exit",
            "interface GigabitEthernet1/0/1",
            "switchport mode access",
            "switchport access vlan 999",
        ],
        "attach": [
            "interface GigabitEthernet1/0/3",
            "switchport mode access",
            "switchport access vlan 10",
        ],
        "disable": ["interface GigabitEthernet1/0/2", "shutdown"],
        "enable": ["interface GigabitEthernet1/0/2", "no shutdown"],
        "save": "write memory",
    },
    "huawei": {
        "line": "GigabitEthernet0/0/1",
        "tellers": "GigabitEthernet0/0/2",
        "xc": "GigabitEthernet0/0/3",
        "xc_short": "GE0/0/3",
        "trunk": "GigabitEthernet0/0/24",
        "status": ["display interface brief", "display port vlan"],
        "detach": [
            "vlan 999",
            "quit",
            "interface GigabitEthernet0/0/1",
            "port link-type access",
            "port default vlan 999",
        ],
        "attach": [
            "interface GigabitEthernet0/0/3",
            "port link-type access",
            "port default vlan 10",
        ],
        "disable": ["interface GigabitEthernet0/0/2", "shutdown"],
        "enable": ["interface GigabitEthernet0/0/2", "undo shutdown"],
        "save": "save",
        "rejected": "Error: The VLAN does not exist",
    },
    "hp_comware": {
        "line": "GigabitEthernet1/0/1",
        "tellers": "GigabitEthernet1/0/2",
        "xc": "GigabitEthernet1/0/3",
        "xc_short": "GE1/0/3",
        "trunk": "Ten-GigabitEthernet1/0/49",
        "status": ["display interface brief", "display vlan all"],
        "detach": [
            "vlan 999",
            "quit",
            "interface GigabitEthernet1/0/1",
            "port link-type access",
            "port access vlan 999",
        ],
        "attach": [
            "interface GigabitEthernet1/0/3",
            "port link-type access",
            "port access vlan 10",
        ],
        "disable": ["interface GigabitEthernet1/0/2", "shutdown"],
        "enable": ["interface GigabitEthernet1/0/2", "undo shutdown"],
        "save": "save force",
        "rejected": "does not exist",
    },
}
vendors = pytest.mark.parametrize("vendor", list(VENDORS))


def replay(vendor: str, scenario: str) -> tuple[NetDevice, RecordedSession, list[int]]:
    session = RecordedSession.load(DATA / vendor / f"{scenario}.yaml")
    assert session.device_type == vendor
    logins: list[int] = []

    def connect() -> RecordedSession:
        logins.append(1)
        return session

    return NetDevice("sw-test", vendor, connect), session, logins


def view(status: PortStatus | None) -> tuple[str, bool, bool, str | None] | None:
    """What the runbooks read of a port: name, admin state, carrier, access domain."""
    if status is None:
        return None
    return (status.name, status.admin_up, status.link_up, status.domain)


def config_lines(change: object) -> list[list[str]]:
    return [list(e.sent) for e in change.exchanges if e.kind == "config"]  # type: ignore[attr-defined]


@vendors
def test_line_failover_sends_exactly_the_vendor_commands(vendor: str) -> None:
    names = VENDORS[vendor]
    device, session, _ = replay(vendor, "line-failover")

    ports = {status.name: status for status in device.ports()}
    assert view(ports[names["line"]]) == (names["line"], True, False, "10")
    # The cross-connect starts parked in the isolation VLAN: detached, carrier visible.
    assert view(ports[names["xc"]]) == (names["xc"], True, True, None)
    assert ports[names["trunk"]].domain is None

    detached = device.detach(names["line"])
    assert detached.changed
    assert config_lines(detached) == [names["detach"]]
    assert detached.before is not None and detached.before.domain == "10"
    assert view(detached.after) == (names["line"], True, False, None)
    assert detached.sent == [*names["status"], *names["detach"], *names["status"]]

    attached = device.attach(names["xc"], 10)
    assert attached.changed
    assert config_lines(attached) == [names["attach"]]
    assert view(attached.after) == (names["xc"], True, True, "10")

    # Again, naming the port the way the device abbreviates it: nothing to do.
    again = device.attach(names["xc_short"], "10")
    assert not again.changed
    assert again.sent == names["status"]

    saved = device.save()
    assert saved.changed
    assert saved.sent == [names["save"]]
    session.assert_finished()
    record = json.loads(json.dumps(detached.to_record()))
    assert record["after"]["domain"] is None
    assert [e["kind"] for e in record["exchanges"]] == ["command"] * len(names["status"]) + [
        "config"
    ] + ["command"] * len(names["status"])


@vendors
def test_disable_and_enable_are_idempotent(vendor: str) -> None:
    names = VENDORS[vendor]
    device, session, _ = replay(vendor, "admin-state")

    down = device.disable(names["tellers"])
    assert config_lines(down) == [names["disable"]]
    assert view(down.after) == (names["tellers"], False, False, "10")

    still_down = device.disable(names["tellers"])
    assert not still_down.changed
    assert config_lines(still_down) == []

    up = device.enable(names["tellers"])
    assert config_lines(up) == [names["enable"]]
    assert view(up.after) == (names["tellers"], True, True, "10")
    session.assert_finished()


# IOS answers an attach to a missing VLAN by creating it (test_netdev_detach.py has that,
# and an IOS line it rejects).
@pytest.mark.parametrize("vendor", ["huawei", "hp_comware"])
def test_a_rejected_line_fails_and_the_session_is_replaced(vendor: str) -> None:
    names = VENDORS[vendor]
    device, session, logins = replay(vendor, "rejected")

    with pytest.raises(SwitchOperationFailed) as failed:
        device.attach(names["tellers"], 30)
    assert names["rejected"] in failed.value.message
    assert "sw-test" in failed.value.message
    assert [e.kind for e in failed.value.exchanges][-1] == "config"
    # netmiko may have left the CLI in configuration mode: that session is not reused.
    assert session.disconnects == 1

    with pytest.raises(SwitchOperationFailed, match="no layer-2 port 'GigabitEthernet9/0/9'"):
        device.port_status("GigabitEthernet9/0/9")
    assert len(logins) == 2
    session.assert_finished()


@vendors
def test_an_unexpected_command_fails_the_replay(vendor: str) -> None:
    names = VENDORS[vendor]
    session = RecordedSession.load(DATA / vendor / "line-failover.yaml")
    # Another isolation VLAN means other lines than the recording's: the replay refuses.
    device = NetDevice("sw-test", vendor, lambda: session, isolation_vlan=998)
    device.ports()
    with pytest.raises(ReplayMismatch, match="vlan 998"):
        device.detach(names["line"])


def test_save_answers_the_huawei_question_and_checks_the_answer() -> None:
    calls = [RecordedCall("save_config", ("save",), "Error: The flash is full.", "y")]
    device = NetDevice(
        "sw", "huawei", lambda: RecordedSession(calls, device_type="huawei", source="t")
    )
    with pytest.raises(SwitchOperationFailed, match="would be lost on a reboot"):
        device.save()


def test_the_password_never_reaches_a_record() -> None:
    calls = [
        RecordedCall("send_command", ("show interfaces status",), "login hunter2 failed"),
        RecordedCall("send_command", ("show interfaces switchport",), "hunter2"),
    ]
    session = RecordedSession(calls, device_type="cisco_ios", source="t")
    device = NetDevice("sw", "cisco_ios", lambda: session, secrets=["hunter2"])
    with pytest.raises(SwitchOperationFailed) as failed:
        device.ports()
    assert "hunter2" not in failed.value.message
    assert "hunter2" not in json.dumps([e.to_record() for e in device.transcript])


@pytest.mark.parametrize("port", ["Gi1/0/1\nreload", "Gi1/0/1; reload", "ln 1", "", "-x", "a" * 65])
def test_port_names_that_could_carry_a_second_command_are_refused(port: str) -> None:
    with pytest.raises(UserInputError):
        check_port(port)


@pytest.mark.parametrize("domain", ["0", "4095", "ten", "10 20", 999])
def test_vlan_domains_are_checked(domain: object) -> None:
    with pytest.raises(UserInputError):
        check_domain(command_set("huawei"), domain, 999)  # type: ignore[arg-type]


def test_domains_take_the_device_s_form() -> None:
    assert check_domain(command_set("cisco_ios"), " 010", 999) == "10"
    assert check_domain(command_set("linux"), "br1", 999) == "br1"
    with pytest.raises(UserInputError):
        check_domain(command_set("linux"), "br1 master br2", 999)
    with pytest.raises(UserInputError, match="device_type 'junos'"):
        command_set("junos")


def test_linux_parser_reads_bridges_bonds_and_carrier() -> None:
    links = [
        {"ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "link_type": "loopback"},
        {"ifname": "br1", "flags": ["UP"], "linkinfo": {"info_kind": "bridge"}},
        {
            "ifname": "ln-1",
            "flags": ["BROADCAST", "UP", "LOWER_UP"],
            "master": "br1",
            "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge"},
        },
        {"ifname": "xc-1", "flags": ["BROADCAST", "UP"], "linkinfo": {"info_kind": "veth"}},
        {
            "ifname": "eth3",
            "flags": ["UP", "LOWER_UP"],
            "master": "bond0",
            "linkinfo": {"info_slave_kind": "bond"},
        },
    ]
    assert [view(port) for port in parse_linux([json.dumps(links)]).ports] == [
        ("ln-1", True, True, "br1"),
        ("xc-1", True, False, None),
        ("eth3", True, True, None),
    ]
    with pytest.raises(ParseError):
        parse_linux(["-bash: ip: command not found"])


def test_a_wrong_device_type_shows_as_unexpected_output() -> None:
    h3c = (DATA / "hp_comware" / "admin-state.yaml").read_text()
    calls = [
        RecordedCall("send_command", ("show interfaces status",), h3c),
        RecordedCall("send_command", ("show interfaces switchport",), h3c),
    ]
    session = RecordedSession(calls, device_type="cisco_ios", source="t")
    with pytest.raises(SwitchOperationFailed, match="check device_type"):
        NetDevice("sw", "cisco_ios", lambda: session).ports()
