"""Which lines take a port out of its domain or into one, chosen from what the port is.

A port's fact (`PortStatus`: link type, PVID, VLANs, admin state) is read first; these
pure functions decide from it what to send, and say when the result is reached, so that
`NetDevice` can read the port again and judge the change by what the port forwards, not
by the lines the switch accepted. Per vendor (why: `netdev_commands`):

- linux: leave / join the bridge.
- cisco_ios, hp_comware: any port becomes an access port of the isolation VLAN (detach)
  or of the domain's VLAN (attach), staying up.
- huawei, huawei_vrpv8: an access port likewise, and so a trunk or hybrid port whose
  VLAN configuration is still the default (PVID 1, VLAN 1 only: a fresh spare's ports),
  which VRP lets change link type; any other trunk, hybrid or negotiating port is shut
  down (detach) and brought back up (attach) when its own configuration carries the
  domain as its PVID, and refused otherwise.

Before a port is parked in the isolation VLAN, the VLAN is checked unused on the switch.
"""

from __future__ import annotations

from orchestrator.transports.netdev_commands import CommandSet, fill
from orchestrator.transports.netdev_parsers import PortStatus, SwitchPorts, vlan_ranges

# How many of the ports that use the isolation VLAN a refusal names.
_NAMED = 8


class Refusal(Exception):
    """The port cannot be changed safely as asked; the message says why and what to do."""


class IsolationInUse(Refusal):
    """The isolation VLAN carries traffic of something other than parked ports."""


def is_detached(cs: CommandSet, status: PortStatus, isolation: int) -> bool:
    """Out of every domain: a bridge-less port, an access port of the isolation VLAN, or
    (where that is how the vendor detaches it) a shut non-access port."""
    if cs.domain_kind == "bridge":
        return status.domain is None
    if status.link_type == "access":
        return status.vlans <= {isolation}
    if _shut_instead(cs, status):
        return not status.admin_up
    return False


def _shut_instead(cs: CommandSet, status: PortStatus) -> bool:
    """Whether this port is taken out by shutting it down rather than by making it an
    access port: a non-access port the OS cannot turn into one in a single step."""
    if cs.non_access_out is None or status.link_type in {"access", "bridge", "member"}:
        return False
    default_vlans = status.pvid in {1, None} and status.vlans <= {1}
    return status.link_type == "dynamic" or not default_vlans


def is_attached(cs: CommandSet, status: PortStatus, domain: str) -> bool:
    """In `domain`: its bridge; an access port of its VLAN; or (Huawei's non-access port)
    up, with the domain as its untagged VLAN."""
    if cs.domain_kind == "bridge":
        return status.domain == domain
    if status.link_type == "access":
        return status.pvid == int(domain)
    if _shut_instead(cs, status):
        return status.forwards(domain) and status.pvid == int(domain)
    return False


def detach_lines(
    cs: CommandSet, status: PortStatus, isolation: int, facts: SwitchPorts | None = None
) -> list[str]:
    """What takes `status`'s port out of its domain (nothing if it is out already).
    With `facts` (the whole switch), a port is parked in the isolation VLAN only if
    nothing else carries it (`IsolationInUse` otherwise)."""
    if is_detached(cs, status, isolation):
        return []
    _refuse_member(status)
    port = status.name
    if cs.domain_kind == "bridge":
        return fill(cs.detach, port=port)
    if _shut_instead(cs, status):
        return fill(cs.non_access_out or (), port=port)
    if facts is not None:
        check_isolation_unused(facts, isolation)
    return fill([*cs.create_vlan, *cs.to_vlan], port=port, vlan=isolation)


def attach_lines(cs: CommandSet, status: PortStatus, domain: str) -> list[str]:
    """What puts `status`'s port into `domain` (nothing if it is in already)."""
    if is_attached(cs, status, domain):
        return []
    _refuse_member(status)
    port = status.name
    if cs.domain_kind == "bridge":
        return fill(cs.attach, port=port, domain=domain)
    if not _shut_instead(cs, status):
        return fill(cs.to_vlan, port=port, vlan=domain)
    if status.pvid == int(domain) and int(domain) in status.vlans:
        return fill(cs.non_access_back or (), port=port)
    raise Refusal(
        f"port {port} is a {status.link_type} port (PVID {status.pvid}, VLANs "
        f"{vlan_ranges(status.vlans) or 'none'}) whose configuration does not carry VLAN "
        f"{domain} untagged; dr changes the VLAN only of access ports on this switch, "
        f"because VRP refuses a link-type change until the port's VLAN configuration is "
        f"back to its default. Configure the port for VLAN {domain} by hand, or make it "
        f"an access port"
    )


def check_isolation_unused(facts: SwitchPorts, isolation: int) -> None:
    """Refuse an isolation VLAN that something forwards in: a trunk, hybrid or negotiating
    port that carries it (tagged, or as its PVID), or a VLAN interface (SVI). Access ports
    in it are the ports parked there, which is what it is for."""
    users = [
        status.name
        for status in facts.ports
        if status.link_type not in {"access", "bridge", "member"}
        and (isolation in status.vlans or status.pvid == isolation)
    ]
    if isolation in facts.vlan_interfaces:
        users.append(f"VLAN interface {isolation}")
    if users:
        shown = ", ".join(users[:_NAMED])
        if len(users) > _NAMED:
            shown += f" and {len(users) - _NAMED} more"
        raise IsolationInUse(
            f"the isolation VLAN {isolation} is in use on this switch (carried by {shown}), "
            f"so a port parked in it would still forward to them; dr changed nothing. Set "
            f"`isolation_vlan:` of this switch in the inventory to a VLAN that no trunk, "
            f"hybrid port or VLAN interface carries, or remove VLAN {isolation} from those "
            f"ports"
        )


def _refuse_member(status: PortStatus) -> None:
    if status.link_type == "member":
        raise Refusal(
            f"port {status.name} is a member of a link aggregation, whose VLANs it carries; "
            f"name the aggregate (Eth-Trunk, Bridge-Aggregation, Port-channel) instead"
        )
