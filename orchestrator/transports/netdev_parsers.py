"""What a switch says about its ports, as `PortStatus` rows: the port fact.

Each parser gets the outputs of its command set's status commands, in order, and
returns one row per layer-2 port, named as the device printed it (`netdev` expands
abbreviations), plus the VLAN interfaces (SVIs) it lists. The vendors' tables are read
by TextFSM templates from ntc-templates (`netdev_textfsm`), which the
network-automation community keeps for many OS releases; the Linux lab switch is read
here from `ip -j` JSON. A table we cannot read raises `ParseError`, which is how a wrong
`device_type` in the inventory shows itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

LinkType = Literal["access", "trunk", "hybrid", "dynamic", "member", "bridge"]
ALL_VLANS = frozenset(range(1, 4095))


class ParseError(ValueError):
    """The output is not the table this parser reads."""


@dataclass(frozen=True)
class PortStatus:
    """One switch port as the runbooks see it.

    `admin_up`: not shut down by configuration. `link_up`: carrier / line protocol.
    `domain`: the access VLAN (as text) or bridge the port is in; None when detached (no
    bridge, or the isolation VLAN) and for every port that is not an access port.
    `link_type`: access, trunk, hybrid, dynamic (negotiates trunking: Cisco DTP, Huawei
    negotiation-auto/desirable), member (of an aggregate, which carries its VLANs), or
    bridge (linux). `pvid`: the untagged/native VLAN. `vlans`: every VLAN the port's
    configuration lets it carry, whatever its link state: what it forwards once up.
    `detached`: set by `NetDevice`: out of every domain but the isolation VLAN.
    """

    name: str
    admin_up: bool
    link_up: bool
    domain: str | None
    link_type: LinkType = "access"
    pvid: int | None = None
    vlans: frozenset[int] = field(default_factory=frozenset)
    detached: bool = False

    def forwards(self, domain: str | int) -> bool:
        """Whether the port, as configured and administratively up, carries `domain`'s
        traffic (the bridge's, or the VLAN's tagged or untagged)."""
        if not self.admin_up:
            return False
        if self.link_type == "bridge":
            return self.domain == str(domain)
        text = str(domain).strip()
        return text.isdigit() and int(text) in self.vlans

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "admin_up": self.admin_up,
            "link_up": self.link_up,
            "domain": self.domain,
            "link_type": self.link_type,
            "pvid": self.pvid,
            "vlans": vlan_ranges(self.vlans),
            "detached": self.detached,
        }


@dataclass(frozen=True)
class SwitchPorts:
    """Everything one status read tells: the layer-2 ports and the VLANs with an SVI."""

    ports: list[PortStatus]
    vlan_interfaces: frozenset[int] = frozenset()


def parse_vlans(items: Iterable[str]) -> frozenset[int]:
    """`["1", "10", "20-25"]` or `["ALL"]` -> the VLAN numbers; ParseError on anything else."""
    vlans: set[int] = set()
    for item in items:
        for part in item.replace(",", " ").split():
            if part.upper() == "ALL":
                return ALL_VLANS
            if part.upper() in {"NONE", "-"}:
                continue
            low, _, high = part.partition("-")
            if not low.isdigit() or (high and not high.isdigit()):
                raise ParseError(f"{part!r} is not a VLAN or VLAN range")
            vlans.update(range(int(low), int(high or low) + 1))
    return frozenset(vlans)


def vlan_ranges(vlans: Iterable[int]) -> str:
    """`{1, 2, 3, 10}` -> "1-3,10", for records and messages."""
    ordered = sorted(vlans)
    parts: list[str] = []
    first = 0
    while first < len(ordered):
        last = first
        while last + 1 < len(ordered) and ordered[last + 1] == ordered[last] + 1:
            last += 1
        low, high = ordered[first], ordered[last]
        parts.append(str(low) if low == high else f"{low}-{high}")
        first = last + 1
    return ",".join(parts)


def parse_linux(outputs: Sequence[str]) -> SwitchPorts:
    """`ip -j -d link show`: every link but loopback and the bridges themselves."""
    (text,) = outputs
    try:
        links = json.loads(text.strip())
    except json.JSONDecodeError:
        raise ParseError("not the JSON that `ip -j` prints") from None
    if not isinstance(links, list):
        raise ParseError("`ip -j link` output is not a list of links")
    ports = []
    for link in links:
        info = link.get("linkinfo") or {}
        if link.get("link_type") == "loopback" or info.get("info_kind") == "bridge":
            continue
        flags = set(link.get("flags", []))
        # A bond or team member has a master too; only a bridge is a forwarding domain.
        in_bridge = info.get("info_slave_kind", "bridge") == "bridge"
        ports.append(
            PortStatus(
                name=str(link["ifname"]),
                admin_up="UP" in flags,
                link_up="LOWER_UP" in flags,
                domain=link.get("master") if in_bridge else None,
                link_type="bridge",
            )
        )
    return SwitchPorts(ports)
