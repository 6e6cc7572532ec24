"""Cisco IOS, Huawei VRP and H3C Comware port tables, read with TextFSM templates.

The templates are ntc-templates' (maintained by the network-automation community against
many OS releases). They are applied here rather than through netmiko's `use_textfsm`, so
that what crosses the connection (and is journaled and replayed) stays the device's own
text, and by file name, so that no index lookup can pick another template:
cisco_ios `show interfaces status` + `show interfaces switchport`; huawei_vrp `display
interface brief` + `display port vlan`; hp_comware `display interface brief` (both the
Comware 5 and the Comware 7 section titles). ntc-templates has no template that says
which ports carry a VLAN on Comware (its `display vlan all` reads no ports), so that one
is ours (netdev_templates/), tested on Comware 5 and 7 formats.

Two adjustments, both because the table's rows are all we need: Huawei's `display
interface brief` loses its legend before the template reads it (every VRP release
prints a different list of flag meanings above the header, and the template refuses any
line it does not know), and the flags Huawei prints after a port name (`(10G)`, `(v)`)
are dropped from the names read, so that they match `display port vlan`'s.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import ntc_templates
import textfsm

from orchestrator.transports.netdev_parsers import (
    LinkType,
    ParseError,
    PortStatus,
    SwitchPorts,
    parse_vlans,
)

_NTC = Path(ntc_templates.__file__).parent / "templates"
_OURS = Path(__file__).parent / "netdev_templates"
_NAME_FLAGS = re.compile(r"\([A-Za-z0-9]+\)\Z")


@cache
def _template(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def parse_table(template: Path, text: str) -> list[dict[str, Any]]:
    """Rows of `text` as read by the TextFSM template at `template`; ParseError if the
    template's state machine refuses the text."""
    try:
        machine = textfsm.TextFSM(io.StringIO(_template(template)))
        rows: list[dict[str, Any]] = machine.ParseTextToDicts(text)
    except textfsm.TextFSMError as exc:
        raise ParseError(f"{template.stem}: {str(exc).splitlines()[0]}") from None
    return rows


def _ntc(name: str) -> Path:
    return _NTC / f"{name}.textfsm"


def _vlan(text: str) -> int | None:
    return int(text) if text.isdigit() else None


# ---- Cisco IOS -------------------------------------------------------------------------

_CISCO_MODES: dict[str, LinkType] = {"static access": "access", "trunk": "trunk"}


def parse_cisco_ios(outputs: Sequence[str]) -> SwitchPorts:
    """`show interfaces status` gives the state, `show interfaces switchport` the mode and
    VLANs: by administrative mode (the operational one reads "down" without carrier),
    except that a DTP port carries what it negotiated, and both sets while it has no link."""
    status_text, switchport_text = outputs
    status = parse_table(_ntc("cisco_ios_show_interfaces_status"), status_text)
    switchport = parse_table(_ntc("cisco_ios_show_interfaces_switchport"), switchport_text)
    if not status:
        raise ParseError("no `Port Name Status Vlan ...` table")
    modes = {row["INTERFACE"]: row for row in switchport}
    ports = []
    for row in status:
        detail = modes.get(row["PORT"])
        if detail is None or detail["SWITCHPORT"].lower() != "enabled":
            continue  # a routed port (`no switchport`) is not a layer-2 port
        admin = detail["ADMIN_MODE"].lower()
        link_type: LinkType = _CISCO_MODES.get(admin, "dynamic" if "dynamic" in admin else "trunk")
        access = _vlan(detail["ACCESS_VLAN"])
        pvid, vlans = _cisco_vlans(link_type, detail)
        state = row["STATUS"]
        ports.append(
            PortStatus(
                name=row["PORT"],
                admin_up=state != "disabled",
                link_up=state in {"connected", "monitoring", "up"},
                domain=str(access) if link_type == "access" and access else None,
                link_type=link_type,
                pvid=pvid,
                vlans=vlans,
            )
        )
    return SwitchPorts(ports)


def _cisco_vlans(link_type: LinkType, detail: dict[str, Any]) -> tuple[int | None, frozenset[int]]:
    """(untagged VLAN, VLANs carried) of one `show interfaces switchport` entry."""
    access = _vlan(detail["ACCESS_VLAN"])
    as_access = (access, frozenset({access}) if access else frozenset())
    if link_type == "access":
        return as_access
    trunk = parse_vlans(detail["TRUNKING_VLANS"])
    native = _vlan(detail["NATIVE_VLAN"])
    operating = detail["MODE"].lower()
    if link_type == "dynamic" and "trunk" not in operating:
        if "access" in operating:
            return as_access  # DTP settled on access: it carries its access VLAN
        return native, trunk | as_access[1]  # no link yet: it may become either
    return native, trunk


# ---- Huawei VRP ------------------------------------------------------------------------

_HUAWEI_TYPES: dict[str, LinkType] = {
    "access": "access",
    "trunk": "trunk",
    "hybrid": "hybrid",
    "auto": "dynamic",
    "desirable": "dynamic",
    "": "member",
}


def _from_header(text: str, header: re.Pattern[str]) -> str:
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if header.match(line):
            return "\n".join(lines[number:]) + "\n"
    raise ParseError(f"no `{header.pattern}` header")


_HUAWEI_BRIEF_HEADER = re.compile(r"\s*Interface\s+PHY\s+Protocol\b")


def parse_huawei(outputs: Sequence[str]) -> SwitchPorts:
    """`display interface brief` (PHY state) joined with `display port vlan` (link type,
    PVID, VLANs); only ports the latter lists are layer-2 ports."""
    brief_text, port_vlan_text = outputs
    brief = parse_table(
        _ntc("huawei_vrp_display_interface_brief"),
        _from_header(brief_text, _HUAWEI_BRIEF_HEADER),
    )
    phy = {_NAME_FLAGS.sub("", row["INTERFACE"]): row["PHY"] for row in brief}
    svis = {
        int(name[len("Vlanif") :])
        for name in phy
        if name.startswith("Vlanif") and name[len("Vlanif") :].isdigit()
    }
    port_vlan = parse_table(_ntc("huawei_vrp_display_port_vlan"), port_vlan_text)
    if not port_vlan and "Link Type" not in port_vlan_text:
        raise ParseError("no `Port Link Type PVID ...` table")
    ports = []
    for row in port_vlan:
        name = row["INTERFACE"]
        if name not in phy:
            continue
        state = phy[name]
        link_type = _HUAWEI_TYPES.get(row["LINK_TYPE"], "trunk")
        pvid = _vlan(row["VLAN_ID"])
        listed = parse_vlans(row["TRUNK_VLAN_LIST"])
        if link_type == "access":
            vlans = frozenset({pvid}) if pvid else frozenset()
        elif link_type == "member":
            vlans = frozenset()
        else:
            vlans = listed
        ports.append(
            PortStatus(
                name=name,
                # "*down" is administratively down; "^down" (standby) is not.
                admin_up=not state.startswith("*"),
                link_up=state.startswith("up"),
                domain=str(pvid) if link_type == "access" and pvid else None,
                link_type=link_type,
                pvid=pvid if link_type != "member" else None,
                vlans=vlans,
            )
        )
    return SwitchPorts(ports, frozenset(svis))


# ---- H3C Comware -----------------------------------------------------------------------

_COMWARE_TYPES: dict[str, LinkType] = {"A": "access", "T": "trunk", "H": "hybrid"}
_COMWARE_SVI = re.compile(r"(?:Vlan-interface|Vlan)(\d+)\Z")


def parse_hp_comware(outputs: Sequence[str]) -> SwitchPorts:
    """`display interface brief` (link, type, PVID; Comware 5 and 7 section titles) and
    `display vlan all` (which ports carry each VLAN, tagged or untagged)."""
    brief_text, vlan_text = outputs
    brief = parse_table(_ntc("hp_comware_display_interface_brief"), brief_text)
    bridged = [row for row in brief if row["TYPE"]]
    if not bridged and "bridge mode" not in brief_text:
        raise ParseError("no `Brief information ... bridge mode` section")
    members: dict[str, set[int]] = {}
    for row in parse_table(_OURS / "hp_comware_display_vlan_all_ports.textfsm", vlan_text):
        for port in [*row["TAGGED"], *row["UNTAGGED"]]:
            members.setdefault(port.lower(), set()).add(int(row["VLAN_ID"]))
    svis = set()
    for row in brief:
        match = _COMWARE_SVI.match(row["INTERFACE"])
        if match and not row["TYPE"]:
            svis.add(int(match.group(1)))
    ports = []
    for row in bridged:
        link_type = _COMWARE_TYPES[row["TYPE"]]
        pvid = _vlan(row["VLAN_ID"])
        name = row["INTERFACE"]
        carried = members.get(_comware_full(name).lower(), set())
        vlans = frozenset({pvid} if link_type == "access" and pvid else carried)
        link = row["LINK"]
        ports.append(
            PortStatus(
                name=name,
                admin_up=link != "ADM",
                link_up=link.startswith("UP"),
                domain=str(pvid) if link_type == "access" and pvid else None,
                link_type=link_type,
                pvid=pvid,
                vlans=vlans,
            )
        )
    return SwitchPorts(ports, frozenset(svis))


_COMWARE_SHORT = {
    "GE": "GigabitEthernet",
    "XGE": "Ten-GigabitEthernet",
    "FGE": "FortyGigE",
    "HGE": "HundredGigE",
    "WGE": "Twenty-FiveGigE",
    "BAGG": "Bridge-Aggregation",
    "M-GE": "M-GigabitEthernet",
}
_COMWARE_NAME = re.compile(r"([A-Za-z-]+?)(\d.*)\Z")


def _comware_full(name: str) -> str:
    """`display interface brief` abbreviates names that `display vlan all` spells out."""
    match = _COMWARE_NAME.match(name)
    if match is None:
        return name
    prefix, rest = match.groups()
    return _COMWARE_SHORT.get(prefix.upper(), prefix) + rest
