"""Read each vendor's port-status output into `PortStatus` rows.

Each parser gets the outputs of its command set's status commands, in order, and
returns one row per layer-2 port, named as the device printed it (`netdev` expands
abbreviations). Only the columns we need are read, so a firmware that adds a column at
the end still parses; a table we cannot find at all raises `ParseError`, which is how a
wrong `device_type` in the inventory shows itself.

The Cisco, Huawei and H3C formats were written against representative transcripts
(tests/data/netdev/), not captures from real devices, none being available here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class ParseError(ValueError):
    """The output is not the table this parser reads."""


@dataclass(frozen=True)
class PortStatus:
    """One switch port as the runbooks see it.

    `admin_up`: not shut down by configuration. `link_up`: carrier / line protocol.
    `domain`: what the port forwards for: its bridge (linux) or access VLAN, as text;
    None when detached (no bridge, or the isolation VLAN) and for trunk or routed ports.
    """

    name: str
    admin_up: bool
    link_up: bool
    domain: str | None

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "admin_up": self.admin_up,
            "link_up": self.link_up,
            "domain": self.domain,
        }


def parse_linux(outputs: Sequence[str]) -> list[PortStatus]:
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
            )
        )
    return ports


_CISCO_LINK_UP = {"connected", "monitoring"}


def parse_cisco_ios(outputs: Sequence[str]) -> list[PortStatus]:
    """`show interfaces status`. The Name column holds free text with spaces, so
    Status and Vlan are read at the header's column positions, not by splitting."""
    (text,) = outputs
    lines = text.splitlines()
    header = next(
        (i for i, line in enumerate(lines) if line.startswith("Port") and " Vlan " in line),
        None,
    )
    if header is None:
        raise ParseError("no `Port Name Status Vlan ...` header")
    status_at = lines[header].index("Status")
    ports = []
    for line in lines[header + 1 :]:
        words = line[status_at:].split()
        if not line.strip() or len(words) < 2:
            continue
        status, vlan = words[0], words[1]
        ports.append(
            PortStatus(
                name=line.split()[0],
                admin_up=status != "disabled",
                link_up=status in _CISCO_LINK_UP,
                # "trunk", "routed" and "unassigned" are not access VLANs.
                domain=vlan if vlan.isdigit() else None,
            )
        )
    return ports


def _rows_after(text: str, header_words: tuple[str, ...]) -> list[list[str]]:
    """Whitespace-split rows that follow the first line starting with `header_words`."""
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        words = line.split()
        if rows is None:
            if tuple(words[: len(header_words)]) == header_words:
                rows = []
            continue
        if not words or set(line.strip()) == {"-"}:
            continue
        rows.append(words)
    if rows is None:
        raise ParseError(f"no `{' '.join(header_words)}` header")
    return rows


def parse_huawei(outputs: Sequence[str]) -> list[PortStatus]:
    """`display interface brief` (PHY state) joined with `display port vlan` (link type
    and PVID); only ports listed by the latter are layer-2 ports and are returned."""
    brief, port_vlan = outputs
    phy = {row[0]: row[1] for row in _rows_after(brief, ("Interface", "PHY")) if len(row) >= 2}
    ports = []
    for row in _rows_after(port_vlan, ("Port", "Link", "Type", "PVID")):
        if len(row) < 3 or row[0] not in phy:
            continue
        name, link_type, pvid = row[0], row[1], row[2]
        state = phy[name]
        ports.append(
            PortStatus(
                name=name,
                # "*down" is administratively down; "^down" (standby) is not.
                admin_up=not state.startswith("*"),
                link_up=state.startswith("up"),
                domain=pvid if link_type == "access" and pvid.isdigit() else None,
            )
        )
    return ports


def parse_hp_comware(outputs: Sequence[str]) -> list[PortStatus]:
    """`display interface brief`, bridge-mode section only (the route-mode section above
    it lists VLAN interfaces, loopbacks and the management port)."""
    (text,) = outputs
    marker = "Brief information on interfaces in bridge mode"
    if marker not in text:
        raise ParseError(f"no `{marker}` section")
    bridge_part = text.split(marker, 1)[1]
    header = ("Interface", "Link", "Speed", "Duplex", "Type", "PVID")
    ports = []
    for row in _rows_after(bridge_part, header):
        if len(row) < 6:
            continue
        name, link, _speed, _duplex, port_type, pvid = row[:6]
        ports.append(
            PortStatus(
                name=name,
                admin_up=link != "ADM",
                link_up=link.startswith("UP"),
                # Type A = access; a trunk's or hybrid's PVID is not its domain.
                domain=pvid if port_type == "A" and pvid.isdigit() else None,
            )
        )
    return ports
