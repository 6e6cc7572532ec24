"""Port facts read from several OS releases' output formats of each vendor.

The transcripts in tests/data/netdev/formats/ were written for dr from the vendors'
documented formats (Cisco IOS 12.2 and 15.2, Huawei VRP5 and VRP8 CloudEngine, H3C
Comware 5 and 7), with access, hybrid, trunk, negotiating and aggregated ports, flags
after port names and rows printed during a cable test. Each file says what dr must read;
the tables are read through `NetDevice` as the runbooks read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.transports.netdev import IsolationVlanInUse, NetDevice, SwitchOperationFailed
from orchestrator.transports.netdev_commands import command_set
from orchestrator.transports.netdev_parsers import ParseError, parse_vlans, vlan_ranges
from orchestrator.transports.netdev_plans import detach_lines
from orchestrator.transports.netdev_replay import RecordedCall, RecordedSession

FORMATS = Path(__file__).parent.parent / "data" / "netdev" / "formats"
FILES = sorted(FORMATS.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def reads(data: dict[str, Any], times: int = 1) -> list[RecordedCall]:
    calls = [RecordedCall("send_command", (cmd,), out) for cmd, out in data["outputs"].items()]
    return calls * times


def device_for(data: dict[str, Any], times: int = 1, **options: Any) -> NetDevice:
    session = RecordedSession(
        reads(data, times), device_type=data["device_type"], source=data["release"]
    )
    return NetDevice("sw-test", data["device_type"], lambda: session, **options)


def test_every_vendor_has_two_releases_formats() -> None:
    releases: dict[str, int] = {}
    for path in FILES:
        vendor = load(path)["device_type"].split("_vrpv8")[0]
        releases[vendor] = releases.get(vendor, 0) + 1
    assert releases == {"cisco_ios": 2, "huawei": 2, "hp_comware": 2}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_access_hybrid_and_trunk_ports_read_right(path: Path) -> None:
    data = load(path)
    ports = {status.name: status for status in device_for(data).ports()}
    assert sorted(ports) == sorted(data["expected"])
    for name, expected in data["expected"].items():
        status = ports[name]
        read = {
            "admin_up": status.admin_up,
            "link_up": status.link_up,
            "link_type": status.link_type,
            "pvid": status.pvid,
            "vlans": vlan_ranges(status.vlans),
        }
        wanted = {**expected, "vlans": vlan_ranges(parse_vlans([expected["vlans"]]))}
        assert read == wanted, name
        # The access VLAN is a port's domain only on an access port.
        assert status.domain == (
            str(status.pvid) if status.link_type == "access" and status.pvid != 999 else None
        )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_non_access_ports_are_never_taken_for_detached(path: Path) -> None:
    data = load(path)
    for status in device_for(data).ports():
        if status.link_type in {"trunk", "hybrid", "dynamic"} and status.admin_up:
            assert not status.detached, status.name
            assert status.vlans, status.name
        if status.link_type != "member" and not status.detached:
            assert detach_lines(command_set(data["device_type"]), status, 999), status.name


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_used_isolation_vlan_is_refused_and_nothing_is_sent(path: Path) -> None:
    data = load(path)
    in_use = data.get("isolation_vlan_in_use", [])
    # VLAN interfaces make a VLAN unusable too: each format's SVIs are refused.
    for vlan in [*in_use, *data.get("vlan_interfaces", [])]:
        if vlan == 1:
            continue  # an access port in VLAN 1 below would make the detach a no-op
        device = device_for(data, isolation_vlan=vlan)
        access = next(s for s in device.ports() if s.link_type == "access" and s.pvid != vlan)
        device = device_for(data, isolation_vlan=vlan)
        with pytest.raises(IsolationVlanInUse, match=f"isolation VLAN {vlan} is in use") as refused:
            device.detach(access.name)
        assert "isolation_vlan:" in refused.value.message
        assert {e.kind for e in refused.value.exchanges} == {"command"}


def test_an_unused_isolation_vlan_is_accepted() -> None:
    data = load(FORMATS / "huawei_vrpv8-ce.yaml")
    device = device_for(data, isolation_vlan=998)
    # The read passes the check; the replay then refuses the change itself (no recording
    # of it), which shows that dr went on to configure.
    with pytest.raises(AssertionError, match="vlan 998"):
        device.detach("10GE1/0/1")


def test_members_of_an_aggregate_are_refused() -> None:
    data = load(FORMATS / "huawei-vrp5.yaml")
    with pytest.raises(SwitchOperationFailed, match="member of a link aggregation"):
        device_for(data).detach("GigabitEthernet0/0/23")


def test_huawei_legend_lines_of_any_release_are_skipped() -> None:
    data = load(FORMATS / "huawei_vrpv8-ce.yaml")
    brief = data["outputs"]["display interface brief"]
    assert "(mf): mac-flapping blocked" in brief  # a legend line ntc's template refuses
    ports = device_for(data).ports()
    assert [p.name for p in ports][:2] == ["10GE1/0/1", "10GE1/0/2"]


@pytest.mark.parametrize(
    ("device_type", "foreign"),
    [("cisco_ios", "hp_comware-7"), ("huawei", "cisco_ios-15.2"), ("hp_comware", "huawei-vrp5")],
)
def test_another_vendors_output_is_a_parse_error(device_type: str, foreign: str) -> None:
    outputs = list(load(FORMATS / f"{foreign}.yaml")["outputs"].values())
    with pytest.raises(ParseError):
        command_set(device_type).parse(outputs)


@pytest.mark.parametrize(
    ("items", "ranges"),
    [(["1", "10", "20-22"], "1,10,20-22"), (["ALL"], "1-4094"), (["NONE"], ""), (["-"], "")],
)
def test_vlan_lists(items: list[str], ranges: str) -> None:
    assert vlan_ranges(parse_vlans(items)) == ranges
