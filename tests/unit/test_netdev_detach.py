"""Detach and attach whatever the port's link type, replayed per vendor.

Each test drives a real `NetDevice` over a `RecordedSession` (tests/data/netdev/): the
replay fails on any call that is not the next recorded one, and the test spells out the
lines it expects, so neither code nor recording drifts alone. A detached port is judged
by what the switch says it forwards after the change (link type, VLANs, admin state).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from netmiko.exceptions import NetmikoTimeoutException, ReadTimeout, WriteException

from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.transports.netdev import NetDevice, PortStatus, SwitchOperationFailed
from orchestrator.transports.netdev_commands import command_set
from orchestrator.transports.netdev_plans import attach_lines, detach_lines
from orchestrator.transports.netdev_privilege import escalate
from orchestrator.transports.netdev_replay import RecordedCall, RecordedSession

DATA = Path(__file__).parent.parent / "data" / "netdev"


def replay(vendor: str, scenario: str, **options: Any) -> tuple[NetDevice, RecordedSession]:
    session = RecordedSession.load(DATA / vendor / f"{scenario}.yaml")
    device = NetDevice("sw-test", session.device_type, lambda: session, **options)
    return device, session


def config_lines(change: Any) -> list[list[str]]:
    return [list(e.sent) for e in change.exchanges if e.kind == "config"]


def out_of_every_domain(status: PortStatus) -> bool:
    """Forwards for no VLAN but the isolation VLAN, as read back from the switch."""
    return not any(status.forwards(vlan) for vlan in range(1, 4095) if vlan != 999)


# (vendor, scenario, [(port, its link type before, the lines dr must send, stays up)])
NON_ACCESS = [
    (
        "cisco_ios",
        "non-access-detach",
        [
            ("GigabitEthernet1/0/4", "trunk", "switchport", True),
            ("GigabitEthernet1/0/6", "dynamic", "switchport", True),
        ],
    ),
    (
        "huawei",
        "non-access-detach",
        [
            ("GigabitEthernet0/0/1", "hybrid", "shutdown", False),
            ("GigabitEthernet0/0/5", "trunk", "shutdown", False),
        ],
    ),
    (
        "hp_comware",
        "non-access-detach-comware7",
        [
            ("GigabitEthernet1/0/1", "hybrid", "link-type", True),
            ("GigabitEthernet1/0/5", "trunk", "link-type", True),
        ],
    ),
    (
        "hp_comware",
        "non-access-detach-comware5",
        [
            ("GigabitEthernet1/0/1", "hybrid", "link-type", True),
            ("GigabitEthernet1/0/5", "trunk", "link-type", True),
        ],
    ),
]
EXPECTED_LINES = {
    "switchport": lambda port: [
        "vlan 999",
        "exit",
        f"interface {port}",
        "switchport mode access",
        "switchport access vlan 999",
    ],
    "shutdown": lambda port: [f"interface {port}", "shutdown"],
    "link-type": lambda port: [
        "vlan 999",
        "quit",
        f"interface {port}",
        "port link-type access",
        "port access vlan 999",
    ],
}


@pytest.mark.parametrize(
    ("vendor", "scenario", "ports"), NON_ACCESS, ids=[f"{v}-{s}" for v, s, _ in NON_ACCESS]
)
def test_detach_takes_hybrid_and_trunk_ports_out_of_the_domain(
    vendor: str, scenario: str, ports: list[tuple[str, str, str, bool]]
) -> None:
    device, session = replay(vendor, scenario)
    for port, link_type, lines, stays_up in ports:
        change = device.detach(port)
        assert change.before is not None and change.after is not None
        assert change.before.link_type == link_type
        # Before: it forwarded for its VLANs although it had no access VLAN ("domain").
        assert change.before.domain is None and not change.before.detached
        assert any(change.before.forwards(vlan) for vlan in change.before.vlans)
        assert config_lines(change) == [EXPECTED_LINES[lines](port)]
        assert change.after.detached and out_of_every_domain(change.after)
        assert change.after.admin_up is stays_up
    session.assert_finished()


def test_huawei_hybrid_line_port_is_shut_then_brought_back_by_attach() -> None:
    device, session = replay("huawei", "line-failover-hybrid")
    detached = device.detach("GigabitEthernet0/0/1")
    assert config_lines(detached) == [["interface GigabitEthernet0/0/1", "shutdown"]]
    attached = device.attach("GigabitEthernet0/0/3", 10)
    # Only now, with the line out, does the cross-connect join VLAN 10.
    assert attached.before is not None and attached.after is not None
    assert not attached.before.forwards(10) and attached.after.forwards(10)
    line_now = device.port_status("GigabitEthernet0/0/1")
    assert line_now.link_type == "hybrid" and not line_now.forwards(10)
    assert device.port_status("GigabitEthernet0/0/3").forwards(10)
    session.assert_finished()


def test_attach_refuses_a_huawei_hybrid_port_that_does_not_carry_the_domain() -> None:
    device, _ = replay("huawei", "non-access-detach")
    with pytest.raises(SwitchOperationFailed, match="does not carry VLAN 30 untagged"):
        device.attach("GigabitEthernet0/0/1", 30)


def test_vrp8_changes_are_committed() -> None:
    device, session = replay("huawei_vrpv8", "line-failover")
    detached = device.detach("10GE1/0/1")
    assert [e.kind for e in detached.exchanges] == ["command"] * 2 + ["config"] + ["command"] * 2
    assert "commit" in detached.exchanges[2].output
    assert detached.after is not None and detached.after.detached
    attached = device.attach("10GE1/0/3", "10")
    assert attached.after is not None and attached.after.forwards(10)
    hybrid = device.detach("10GE1/0/2")
    assert config_lines(hybrid) == [["interface 10GE1/0/2", "shutdown"]]
    assert "commit" in hybrid.exchanges[2].output
    assert hybrid.before is not None and hybrid.before.forwards(200)
    assert hybrid.after is not None and out_of_every_domain(hybrid.after)
    session.assert_finished()


def test_a_refused_vrp8_commit_fails_with_the_device_s_words() -> None:
    session = RecordedSession.load(DATA / "huawei_vrpv8" / "line-failover.yaml")
    refused = "commit\nError: Failed to generate committed config: VLAN 999 is reserved.\n"
    calls = [*session._calls[:3], RecordedCall("commit", ("commit",), refused)]
    broken = RecordedSession(calls, device_type="huawei_vrpv8", source="refused commit")
    device = NetDevice("sw-test", "huawei_vrpv8", lambda: broken)
    with pytest.raises(SwitchOperationFailed, match="VLAN 999 is reserved") as failed:
        device.detach("10GE1/0/1")
    assert broken.disconnects == 1  # the session is closed, not reused
    assert failed.value.exchanges[-1].output.startswith("[dr: ValueError")


def test_cisco_creating_the_access_vlan_is_a_success() -> None:
    device, session = replay("cisco_ios", "creating-vlan")
    change = device.attach("GigabitEthernet1/0/2", 30)
    assert change.changed and change.after is not None and change.after.domain == "30"
    assert "Creating vlan 30" in change.exchanges[2].output
    with pytest.raises(SwitchOperationFailed, match="no layer-2 port"):
        device.port_status("GigabitEthernet9/0/9")
    session.assert_finished()


def test_a_cisco_invalid_input_line_is_a_failure() -> None:
    session = RecordedSession.load(DATA / "cisco_ios" / "creating-vlan.yaml")
    rejected = RecordedCall(
        "send_config_set",
        ("interface GigabitEthernet1/0/2", "switchport mode access", "switchport access vlan 30"),
        "CG-SW-FUNDS(config-if)#switchport mode access\n"
        "                                     ^\n% Invalid input detected at '^' marker.\n",
    )
    calls = [*session._calls[:2], rejected]
    device = NetDevice(
        "sw", "cisco_ios", lambda: RecordedSession(calls, device_type="cisco_ios", source="t")
    )
    with pytest.raises(SwitchOperationFailed, match="Invalid input detected"):
        device.attach("GigabitEthernet1/0/2", 30)


class FailingConnection:
    """A connection whose next call raises what netmiko raised on a real session."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.disconnected = False

    def send_command(self, command_string: str, **_options: Any) -> str:
        raise self.error

    def is_alive(self) -> bool:
        return True

    def disconnect(self) -> None:
        self.disconnected = True


@pytest.mark.parametrize(
    "error",
    [
        WriteException("Failed to send data: channel closed by switch"),
        NetmikoTimeoutException("Timed-out reading channel, data not available."),
        ValueError("Pattern not detected: 'CG\\-SW' in output."),
    ],
)
def test_every_netmiko_error_becomes_ours_with_the_device_s_words(error: Exception) -> None:
    connection = FailingConnection(error)
    device = NetDevice("sw", "huawei", lambda: connection)  # type: ignore[arg-type,return-value]
    with pytest.raises(SwitchOperationFailed) as failed:
        device.ports()
    assert str(error) in failed.value.message
    assert connection.disconnected
    assert failed.value.exchanges[-1].output.startswith("[dr: ")


def test_save_happens_only_when_the_inventory_says_so() -> None:
    calls = [
        RecordedCall("save_config", ("save",), "Info: Save the configuration successfully.", "y")
    ]
    unsaved = NetDevice(
        "sw",
        "huawei",
        lambda: RecordedSession([], device_type="huawei", source="t"),
        save_config=False,
    )
    assert not unsaved.save().changed
    session = RecordedSession(calls, device_type="huawei", source="t")
    saved = NetDevice("sw", "huawei", lambda: session, save_config=True).save()
    assert saved.changed and saved.sent == ["save"]
    session.assert_finished()


class PrivilegePrompt:
    """A device CLI at the user-level prompt that asks for the super/enable password."""

    def __init__(self, secret: str, accept: bool) -> None:
        self.secret = secret
        self.accept = accept
        self.sent: list[str] = []
        self.enabled = False

    def send_command(self, command: str, **_options: Any) -> str:
        self.sent.append(command)
        if command == "super":
            return "Password:"
        if not self.accept:
            return "Error: Failed to pass the authentication.\n<SW>"
        return "Now user privilege is 3 level, and only commands of level 3 or lower work.\n<SW>"

    def check_enable_mode(self) -> bool:
        return self.enabled

    def enable(self) -> str:
        self.enabled = self.accept
        return ""


def test_super_answers_the_password_prompt_with_the_secret() -> None:
    device = PrivilegePrompt("s3cret", accept=True)
    escalate(device, "huawei")
    assert device.sent == ["super", "s3cret"]


def test_a_refused_super_or_enable_raises_with_the_device_s_words() -> None:
    with pytest.raises(PermissionError, match="Failed to pass the authentication"):
        escalate(PrivilegePrompt("wrong", accept=False), "hp_comware")
    with pytest.raises(PermissionError, match="privileged EXEC"):
        escalate(PrivilegePrompt("wrong", accept=False), "cisco_ios")


def test_a_huawei_port_with_default_vlan_configuration_becomes_an_access_port() -> None:
    huawei = command_set("huawei")
    fresh = PortStatus("GigabitEthernet0/0/7", True, True, None, "hybrid", 1, frozenset({1}))
    assert attach_lines(huawei, fresh, "10") == [
        "interface GigabitEthernet0/0/7",
        "port link-type access",
        "port default vlan 10",
    ]
    # Parked, it stays up (its carrier visible), like an access port.
    assert detach_lines(huawei, fresh, 999)[-2:] == [
        "port link-type access",
        "port default vlan 999",
    ]
    configured = replace(fresh, pvid=10, vlans=frozenset({10, 20}))
    assert detach_lines(huawei, configured, 999) == ["interface GigabitEthernet0/0/7", "shutdown"]


def test_a_login_that_fails_is_a_switch_operation_failure() -> None:
    def refuse() -> Any:
        raise TransportError("authentication as dr failed on switch sw (tried no key file)")

    device = NetDevice("sw", "huawei", refuse)
    with pytest.raises(SwitchOperationFailed, match="authentication as dr failed"):
        device.detach("GigabitEthernet0/0/1")


def test_a_refused_host_key_is_not_turned_into_anything_else() -> None:
    def refuse() -> Any:
        raise HostKeyRejected("HOST KEY CHANGED for switch sw")

    with pytest.raises(HostKeyRejected):
        NetDevice("sw", "huawei", refuse).ports()


def test_a_read_timeout_keeps_netmiko_s_words() -> None:
    connection = FailingConnection(ReadTimeout("Pattern not detected: '<CG-SW>' in output."))
    device = NetDevice("sw", "huawei", lambda: connection)  # type: ignore[arg-type,return-value]
    with pytest.raises(SwitchOperationFailed, match="Pattern not detected"):
        device.ports()
