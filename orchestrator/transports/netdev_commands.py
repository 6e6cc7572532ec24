"""Every vendor's switch-port commands, in one place.

The runbooks speak of five port operations (detach, attach, enable, disable, save) and
one question (what state is each port in). This module says, per netmiko device type,
which CLI lines carry them out and which commands answer the question; `netdev_plans`
chooses the lines from the port's link type, `netdev` sends them, `netdev_textfsm` reads
the answers. Adding a vendor means adding one `CommandSet` here and one parser there.

linux (the lab switches; configuration is runtime-only, so save does nothing)
    status   ip -j -d link show
    detach   ip link set dev P nomaster          attach   ip link set dev P master D
    enable   ip link set dev P up                disable  ip link set dev P down
cisco_ios (each change inside configure terminal ... end)
    status   show interfaces status ; show interfaces switchport
    to VLAN  interface P / switchport mode access / switchport access vlan V
    enable   interface P / no shutdown           disable  interface P / shutdown
    save     write memory
huawei, huawei_vrpv8 (each change inside system-view ... return; VRP8 commits it)
    status   display interface brief ; display port vlan
    to VLAN  interface P / port link-type access / port default vlan V   (access ports)
    out      interface P / shutdown      back  interface P / undo shutdown   (other ports)
    enable   interface P / undo shutdown         disable  interface P / shutdown
    save     save, answering y to its [Y/N] question
hp_comware, i.e. H3C Comware 5 and 7 (each change inside system-view ... return)
    status   display interface brief ; display vlan all
    to VLAN  interface P / port link-type access / port access vlan V
    enable   interface P / undo shutdown         disable  interface P / shutdown
    save     save force

P is a port, D a forwarding domain (a bridge on linux, an access VLAN elsewhere), V a
VLAN: D on attach, the isolation VLAN I on detach (created first with `vlan I`). A
*detached* port must stop forwarding for every domain. Where the OS lets a trunk or
hybrid port become an access port in one step (IOS, Comware) it is moved to I and
stays administratively up, so that the line's carrier stays observable. VRP refuses
`port link-type access` on a port whose VLAN configuration is not the default, so a
Huawei trunk, hybrid or negotiating port is shut down instead: one line every VRP
release accepts, which keeps the port's own configuration for the way back. I must be
reserved for this use: `netdev_plans` refuses one that a trunk, hybrid port or SVI uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from orchestrator.errors import UserInputError
from orchestrator.transports.netdev_parsers import SwitchPorts, parse_linux
from orchestrator.transports.netdev_textfsm import parse_cisco_ios, parse_hp_comware, parse_huawei

DeviceType = Literal["linux", "cisco_ios", "huawei", "huawei_vrpv8", "hp_comware"]
Action = Literal["attach", "detach", "enable", "disable"]
DEFAULT_ISOLATION_VLAN = 999

# Port and bridge names go into CLI lines: anything beyond these characters (spaces,
# newlines, `;`) could smuggle a second command onto the device.
_PORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}\Z")
_BRIDGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,14}\Z")  # IFNAMSIZ - 1
_NAME_PREFIX = re.compile(r"([A-Za-z][A-Za-z-]*)(.*)\Z")


@dataclass(frozen=True)
class SaveCommand:
    """How netmiko's `save_config` is called; `confirm_response` answers a [Y/N] prompt."""

    command: str
    confirm_response: str | None = None


@dataclass(frozen=True)
class CommandSet:
    """What to send to one kind of device for each port operation.

    `parse` reads the outputs of the `status` commands, in order. Templates use
    `{port}`, `{domain}` and `{vlan}`. `attach` and `detach` join and leave a bridge
    (linux); on VLAN switches `to_vlan` makes a port an access
    port of `{vlan}`, `create_vlan` makes sure VLAN `{vlan}` exists; `non_access_out`
    and `non_access_back` take a trunk/hybrid port out of service and back where the OS
    cannot turn it into an access port in one step (None: `to_vlan` serves). `commit`:
    the change is a candidate until committed (VRP8). With `config_mode` the lines of
    one operation go in one netmiko `send_config_set` (which enters and leaves the
    vendor's configuration mode, stopping at the first line that matches
    `error_pattern`, whose match is all netmiko reports, hence patterns that match the
    whole line); without it each line is a shell command sent on its own, and any
    output at all is an error, because `ip link set` is silent when it succeeds.
    """

    device_type: DeviceType
    domain_kind: Literal["bridge", "vlan"]
    status: tuple[str, ...]
    parse: Callable[[Sequence[str]], SwitchPorts]
    attach: tuple[str, ...]
    detach: tuple[str, ...]
    enable: tuple[str, ...]
    disable: tuple[str, ...]
    save: SaveCommand | None
    config_mode: bool
    error_pattern: str
    # How the device shortens port names in its tables -> the full name (lower case keys).
    abbreviations: Mapping[str, str] = field(default_factory=dict)
    names_case_sensitive: bool = False
    to_vlan: tuple[str, ...] = ()
    create_vlan: tuple[str, ...] = ()
    non_access_out: tuple[str, ...] | None = None
    non_access_back: tuple[str, ...] | None = None
    commit: bool = False


LINUX = CommandSet(
    device_type="linux",
    domain_kind="bridge",
    # `-d` adds linkinfo, which says whether a port's master is a bridge; `dev` before
    # every name keeps a port called e.g. `up` or `help` from being read as a keyword.
    status=("ip -j -d link show",),
    parse=parse_linux,
    attach=("ip link set dev {port} master {domain}",),
    detach=("ip link set dev {port} nomaster",),
    enable=("ip link set dev {port} up",),
    disable=("ip link set dev {port} down",),
    save=None,
    config_mode=False,
    error_pattern=r"\S",
    names_case_sensitive=True,
)

CISCO_IOS = CommandSet(
    device_type="cisco_ios",
    domain_kind="vlan",
    status=("show interfaces status", "show interfaces switchport"),
    parse=parse_cisco_ios,
    attach=(),
    detach=(),
    # `switchport mode access` first: from trunk or dynamic mode IOS accepts it in one
    # step, and it stops DTP from making the port a trunk again.
    to_vlan=("interface {port}", "switchport mode access", "switchport access vlan {vlan}"),
    # `vlan N` creates the VLAN or enters it if it exists; a port in a VLAN that does not
    # exist shows "inactive" and hides its line state, which detach must keep visible.
    create_vlan=("vlan {vlan}", "exit"),
    enable=("interface {port}", "no shutdown"),
    disable=("interface {port}", "shutdown"),
    save=SaveCommand("write memory"),
    config_mode=True,
    # IOS prefixes CLI errors with "% " (syslog lines start "%FAC-" and do not match).
    # "% Access VLAN does not exist. Creating vlan N" is not one: IOS creates the VLAN
    # and moves the port; the read-back after the change judges the result.
    error_pattern=r"^% (?!Access VLAN does not exist\. Creating vlan).*$",
    abbreviations={
        "gi": "GigabitEthernet",
        "fa": "FastEthernet",
        "te": "TenGigabitEthernet",
        "tw": "TwoGigabitEthernet",
        "fi": "FiveGigabitEthernet",
        "twe": "TwentyFiveGigE",
        "fo": "FortyGigabitEthernet",
        "hu": "HundredGigE",
        "et": "Ethernet",
        "po": "Port-channel",
    },
)

HUAWEI = CommandSet(
    device_type="huawei",
    domain_kind="vlan",
    status=("display interface brief", "display port vlan"),
    parse=parse_huawei,
    attach=(),
    detach=(),
    # `port link-type access` before `port default vlan`: the documented prerequisite.
    to_vlan=("interface {port}", "port link-type access", "port default vlan {vlan}"),
    create_vlan=("vlan {vlan}", "quit"),
    non_access_out=("interface {port}", "shutdown"),
    non_access_back=("interface {port}", "undo shutdown"),
    enable=("interface {port}", "undo shutdown"),
    disable=("interface {port}", "shutdown"),
    save=SaveCommand("save", confirm_response="y"),
    config_mode=True,
    error_pattern=r"^\s*Error\s*:.*$",
    abbreviations={"ge": "GigabitEthernet", "xge": "XGigabitEthernet", "eth": "Ethernet"},
)

# CloudEngine (VRP8): the same commands, made in a candidate configuration that netmiko's
# huawei_vrpv8 driver commits; an uncommitted change does nothing.
HUAWEI_VRPV8 = replace(HUAWEI, device_type="huawei_vrpv8", commit=True)

HP_COMWARE = CommandSet(
    device_type="hp_comware",
    domain_kind="vlan",
    # Link state, type and PVID of every layer-2 port; then which ports carry each VLAN.
    status=("display interface brief", "display vlan all"),
    parse=parse_hp_comware,
    attach=(),
    detach=(),
    # Comware turns a trunk or hybrid port into an access port in one step (only trunk
    # <-> hybrid needs a stop at access), dropping the port's other VLANs.
    to_vlan=("interface {port}", "port link-type access", "port access vlan {vlan}"),
    create_vlan=("vlan {vlan}", "quit"),
    enable=("interface {port}", "undo shutdown"),
    disable=("interface {port}", "shutdown"),
    # `save force` writes the startup file without the interactive questions.
    save=SaveCommand("save force"),
    config_mode=True,
    error_pattern=r"^\s*(% |Error\b).*$|^.*does not exist.*$",
    abbreviations={
        "ge": "GigabitEthernet",
        "xge": "Ten-GigabitEthernet",
        "fge": "FortyGigE",
        "hge": "HundredGigE",
        "wge": "Twenty-FiveGigE",
        "bagg": "Bridge-Aggregation",
        "m-ge": "M-GigabitEthernet",
    },
)

COMMAND_SETS: dict[str, CommandSet] = {
    cs.device_type: cs for cs in (LINUX, CISCO_IOS, HUAWEI, HUAWEI_VRPV8, HP_COMWARE)
}


def command_set(device_type: str) -> CommandSet:
    try:
        return COMMAND_SETS[device_type]
    except KeyError:
        known = ", ".join(COMMAND_SETS)
        raise UserInputError(
            f"no switch command set for device_type {device_type!r}; dr knows: {known}"
        ) from None


def check_port(port: str) -> str:
    if not _PORT_NAME.match(port):
        raise UserInputError(
            f"{port!r} is not a port name dr will send to a switch (letters, digits and "
            f"/ . _ : - only, at most 64 characters)"
        )
    return port


def check_domain(cs: CommandSet, domain: str | int, isolation_vlan: int) -> str:
    """The domain as the CLI wants it, or UserInputError if it cannot be one."""
    text = str(domain).strip()
    if cs.domain_kind == "bridge":
        if not _BRIDGE_NAME.match(text):
            raise UserInputError(f"{text!r} is not a Linux bridge name")
        return text
    if not text.isdigit() or not 1 <= int(text) <= 4094:
        raise UserInputError(
            f"{text!r} is not a VLAN number (1-4094) for a {cs.device_type} switch"
        )
    if int(text) == isolation_vlan:
        raise UserInputError(
            f"VLAN {text} is the isolation VLAN that detach parks ports in; use detach, "
            f"or attach to the branch's own VLAN"
        )
    return str(int(text))


def fill(templates: Sequence[str], **values: object) -> list[str]:
    """The lines of `templates` with `{port}`, `{vlan}`, ... filled in."""
    return [template.format(**values) for template in templates]


def port_key(cs: CommandSet, name: str) -> str:
    """A name to compare ports by: abbreviations expanded (`Gi1/0/1` and
    `GigabitEthernet1/0/1` are one port), case folded where the device ignores case."""
    full = full_port_name(cs, name)
    return full if cs.names_case_sensitive else full.lower()


def full_port_name(cs: CommandSet, name: str) -> str:
    match = _NAME_PREFIX.match(name)
    if match is None:
        return name
    prefix, rest = match.groups()
    expanded = cs.abbreviations.get(prefix.lower())
    return f"{expanded}{rest}" if expanded else name
