"""The drill lab's network (docs/lab.md): the address plan as data, build and teardown.

Interface names (an interface name holds at most 15 characters):

    root ns        drlab-mgmt (bridge, 10.77.0.1/24); dlm-HOST, the root end of HOST's mgmt0
    every host     mgmt0 (10.77.0.x/24, port of drlab-mgmt)
    dc-a/dc-b/backup  lan0 (10.77.1.x/24) <-> lan-HOST, a port of bridge `lan` in core
    core           bridge lan 10.77.1.1/24; per branch N bridge brN 10.78.N.1/24 with
                   ports pri-N (primary line's core end), stb-N (standby line's core end)
                   and spr-N (the spare switch's pre-cabled end of the primary line)
    sw-funds       per branch N bridge brN: acc-N (to branch N's eth0), ln-N (primary
                   line, peer of core pri-N), xc-N (cross-connect to sw-nonfunds; detached)
    sw-nonfunds    per branch N bridge brN: ln-N (standby line, peer of core stb-N), xc-N;
                   xs-N (the spare's cross-connect)
    sw-spare       the hot spare of sw-funds, pre-cabled: per branch N bridge brN and
                   ports acc-N (to branch N's up1), ln-N (peer of core spr-N), xc-N (to
                   sw-nonfunds xs-N), all administratively up and detached until a
                   switch-failover attaches them
    branch-N       eth0: a bridge with STP, 10.78.N.2/24, ports up0 (to sw-funds acc-N)
                   and up1 (to sw-spare acc-N); route 10.77.1.0/24 via 10.78.N.1

A line is a veth pair, so taking its core end down drops the carrier on the switch's ln-N
(`ip link` shows NO-CARRIER, operstate DOWN, bridge port state disabled): that is the
line-cut fault, and what a runbook reads on the switch.

The lab cannot move a cable, so the spare switch is pre-cabled, as a hot spare often is:
each of its ports is wired to the same peer as the sw-funds port of the same name (the
branch's access bridge has a second uplink, the core a second line end). While the
spare stands by its ports carry no traffic (detached), but their carrier is visible.
Once it is in service and the repaired sw-funds returns with its configuration, both
switches forward between the core and a branch: the branch's bridge runs STP (the only
lab bridge that does) and blocks its uplink to the spare (up1 has the worse port
priority), which is what keeps those two active paths from becoming a loop.

The seed's cable swap must never bridge ln-N and xc-N on sw-funds at the same time: with
both lines joined in core's brN that is a loop, and without STP a broadcast storm. Every
switch-port change here therefore removes one port before adding the other. The same
holds for ln-N and xc-N on sw-spare: switch-failover never attaches the spare's xc-N.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from ipaddress import ip_interface, ip_network
from typing import Literal

from lab import netns as nl
from lab.errors import LabError

LineKind = Literal["primary", "standby"]

MGMT_IF, LAN_IF, BRANCH_IF = "mgmt0", "lan0", "eth0"
CORE, SW_FUNDS, SW_NONFUNDS, SW_SPARE = "core", "sw-funds", "sw-nonfunds", "sw-spare"
# The switch each branch is cabled to in service, and its pre-cabled hot spare.
BRANCH_UPLINKS = {SW_FUNDS: "up0", SW_SPARE: "up1"}
DC_HOSTS = ("dc-a", "dc-b", "backup")
LAN_BRIDGE = "lan"
MGMT_NET, LAN_NET, BRANCH_NETS = "10.77.0", "10.77.1", "10.78.0.0/16"
LAB_NETS = (ip_network("10.77.0.0/16"), ip_network("10.78.0.0/16"))
MGMT_VETH_PREFIX = "dlm-"
MAX_IFNAME = 15
# mgmt addresses are 10.77.0.(100+N), so N stops at 154.
MAX_BRANCHES = 154
_HOST_OCTET = {"dc-a": 11, "dc-b": 12, "backup": 13, SW_FUNDS: 21, SW_NONFUNDS: 22, SW_SPARE: 23}
# Kernel STP on a branch's access bridge, at the shortest timers the kernel accepts
# (centiseconds): a port that gains carrier forwards after 2 x forward_delay = 4 s.
_BRANCH_STP = ("forward_delay", "200", "hello_time", "100", "max_age", "600")
# The spare uplink's port priority: worse than the default 32, so when both switches
# forward it is up1 that STP blocks and the branch stays on the switch in service.
_SPARE_UPLINK_PRIORITY = "40"
_STP_SETTLE_S = 10.0
# teardown deletes whatever carries these prefixes; "" or "d" would match real devices.
_SAFE_PREFIX = re.compile(r"^[a-z][a-z0-9]{1,9}-$")


def _check_prefix(prefix: str) -> None:
    if not _SAFE_PREFIX.match(prefix):
        raise LabError(
            f"lab name prefix {prefix!r} is unsafe: it must be 2-10 lower-case letters or "
            "digits followed by '-' (e.g. 'drlab-'), so teardown cannot match real devices."
        )


@dataclass(frozen=True)
class LabTopology:
    branches: int = 2
    prefix: str = "drlab-"
    vip: str = "10.77.1.10"
    vip_prefix: int = 24
    service_port: int = 8080
    mgmt_veth_prefix: str = MGMT_VETH_PREFIX

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)
        _check_prefix(self.mgmt_veth_prefix)
        if not 1 <= self.branches <= MAX_BRANCHES:
            raise LabError(f"the lab supports 1 to {MAX_BRANCHES} branches, not {self.branches}.")
        too_long = [n for n in self.root_interfaces if len(n) > MAX_IFNAME]
        if too_long:
            raise LabError(
                f"interface names {too_long} exceed {MAX_IFNAME} characters; "
                "choose a shorter prefix."
            )

    # -- names -------------------------------------------------------------------------
    def namespace(self, host: str) -> str:
        return f"{self.prefix}{host}"

    @property
    def hosts(self) -> list[str]:
        """Hosts with a mgmt address (and sshd), in inventory order."""
        return [*DC_HOSTS, SW_FUNDS, SW_NONFUNDS, SW_SPARE, *self.branch_hosts]

    @property
    def branch_hosts(self) -> list[str]:
        return [f"branch-{n}" for n in range(1, self.branches + 1)]

    @property
    def namespaces(self) -> list[str]:
        return [self.namespace(h) for h in [*self.hosts, CORE]]

    @property
    def mgmt_bridge(self) -> str:
        return f"{self.prefix}mgmt"

    def mgmt_veth(self, host: str) -> str:
        """Root-namespace end of `host`'s mgmt0."""
        return f"{self.mgmt_veth_prefix}{host}"

    @property
    def root_interfaces(self) -> list[str]:
        return [self.mgmt_bridge, *(self.mgmt_veth(h) for h in self.hosts)]

    # -- addresses ---------------------------------------------------------------------
    @property
    def mgmt_gateway(self) -> str:
        """The mgmt bridge's address in the root namespace (the orchestrator's side)."""
        return f"{MGMT_NET}.1"

    def mgmt_address(self, host: str) -> str:
        if host in _HOST_OCTET:
            return f"{MGMT_NET}.{_HOST_OCTET[host]}"
        if host in self.branch_hosts:
            return f"{MGMT_NET}.{100 + int(host.removeprefix('branch-'))}"
        raise LabError(f"{host!r} is not a lab host; lab hosts are {', '.join(self.hosts)}.")

    def lan_address(self, host: str) -> str:
        if host not in DC_HOSTS:
            raise LabError(f"{host!r} is not on the DC LAN; those are {', '.join(DC_HOSTS)}.")
        return f"{LAN_NET}.{_HOST_OCTET[host]}"

    @property
    def lan_gateway(self) -> str:
        return f"{LAN_NET}.1"

    def branch_address(self, n: int) -> str:
        return f"10.78.{n}.2"

    def branch_gateway(self, n: int) -> str:
        return f"10.78.{n}.1"


def line_port(topology: LabTopology, branch: int, kind: LineKind) -> tuple[str, str]:
    """(namespace, ifname) of the core-side end of branch `branch`'s line: the end a
    line-cut fault takes down, so that the switch keeps a visible, carrier-less port."""
    return topology.namespace(CORE), f"{'pri' if kind == 'primary' else 'stb'}-{branch}"


def _refuse_foreign_lab_addresses(topology: LabTopology) -> None:
    """Refuse to build over a root namespace that already uses the lab's address space
    elsewhere: the lab would hijack (or be hijacked by) real traffic."""
    foreign = [
        f"{ifname} {cidr}"
        for ifname, cidr in nl.addresses(None)
        if ifname != topology.mgmt_bridge
        and any(ip_interface(cidr).network.overlaps(net) for net in LAB_NETS)
    ]
    foreign += [
        f"route {r['dst']} dev {r.get('dev', '?')}"
        for r in nl.routes(None)
        if r.get("dst") != "default"
        and r.get("dev") != topology.mgmt_bridge
        and any(ip_network(r["dst"], strict=False).overlaps(net) for net in LAB_NETS)
    ]
    if foreign:
        raise LabError(
            "the root namespace already uses the lab's networks (10.77.0.0/16, "
            f"10.78.0.0/16): {'; '.join(foreign)}. Remove them or build the lab on "
            "another machine; the lab will not share those networks."
        )


def _link_up(ns: str | None, *names: str) -> None:
    for name in names:
        nl.set_link(ns, name, up=True)


def _build_mgmt(t: LabTopology) -> None:
    nl.create_bridge(None, t.mgmt_bridge)
    nl.add_address(None, t.mgmt_bridge, f"{t.mgmt_gateway}/24")
    _link_up(None, t.mgmt_bridge)
    for host in t.hosts:
        ns, root_end = t.namespace(host), t.mgmt_veth(host)
        nl.create_veth(None, root_end, ns, MGMT_IF)
        nl.attach(None, root_end, t.mgmt_bridge)
        _link_up(None, root_end)
        nl.add_address(ns, MGMT_IF, f"{t.mgmt_address(host)}/24")
        _link_up(ns, MGMT_IF)


def _build_dc_lan(t: LabTopology) -> None:
    core = t.namespace(CORE)
    nl.create_bridge(core, LAN_BRIDGE)
    nl.add_address(core, LAN_BRIDGE, f"{t.lan_gateway}/24")
    _link_up(core, LAN_BRIDGE)
    for host in DC_HOSTS:
        ns, port = t.namespace(host), f"lan-{host}"
        nl.create_veth(core, port, ns, LAN_IF)
        nl.attach(core, port, LAN_BRIDGE)
        _link_up(core, port)
        nl.add_address(ns, LAN_IF, f"{t.lan_address(host)}/24")
        _link_up(ns, LAN_IF)
        nl.add_route(ns, BRANCH_NETS, t.lan_gateway)


def _build_branch(t: LabTopology, n: int) -> None:
    core, funds = t.namespace(CORE), t.namespace(SW_FUNDS)
    nonfunds, branch = t.namespace(SW_NONFUNDS), t.namespace(f"branch-{n}")
    spare = t.namespace(SW_SPARE)
    bridge, line, xc, acc = f"br{n}", f"ln-{n}", f"xc-{n}", f"acc-{n}"
    for ns in (core, funds, nonfunds, spare):
        nl.create_bridge(ns, bridge)
    _build_branch_access(t, n)
    nl.create_veth(core, f"pri-{n}", funds, line)
    nl.create_veth(core, f"stb-{n}", nonfunds, line)
    nl.create_veth(core, f"spr-{n}", spare, line)
    nl.create_veth(funds, xc, nonfunds, xc)
    nl.create_veth(spare, xc, nonfunds, f"xs-{n}")
    nl.create_veth(funds, acc, branch, BRANCH_UPLINKS[SW_FUNDS])
    nl.create_veth(spare, acc, branch, BRANCH_UPLINKS[SW_SPARE])
    for core_end in (f"pri-{n}", f"stb-{n}", f"spr-{n}"):
        nl.attach(core, core_end, bridge)
    for nonfunds_port in (line, xc, f"xs-{n}"):
        nl.attach(nonfunds, nonfunds_port, bridge)
    nl.attach(funds, acc, bridge)
    for uplink in BRANCH_UPLINKS.values():
        nl.attach(branch, uplink, BRANCH_IF)
    nl.ip(
        "link", "set", "dev", BRANCH_UPLINKS[SW_SPARE], "type", "bridge_slave",
        "priority", _SPARE_UPLINK_PRIORITY, netns=branch,
    )  # fmt: skip
    swap_to_primary(t, n)
    spare_to_standby(t, n)
    nl.add_address(core, bridge, f"{t.branch_gateway(n)}/24")
    _link_up(core, bridge, f"pri-{n}", f"stb-{n}", f"spr-{n}")
    _link_up(funds, bridge, line, xc, acc)
    _link_up(nonfunds, bridge, line, xc, f"xs-{n}")
    _link_up(spare, bridge, line, xc, acc)
    _link_up(branch, *BRANCH_UPLINKS.values(), BRANCH_IF)
    nl.add_route(branch, f"{LAN_NET}.0/24", t.branch_gateway(n))


def _build_branch_access(t: LabTopology, n: int) -> None:
    """Branch N's eth0: an access bridge with STP, carrying the branch's address."""
    branch = t.namespace(f"branch-{n}")
    nl.create_bridge(branch, BRANCH_IF)
    nl.ip("link", "set", "dev", BRANCH_IF, "type", "bridge", *_BRANCH_STP, netns=branch)
    nl.ip("link", "set", "dev", BRANCH_IF, "type", "bridge", "stp_state", "1", netns=branch)
    nl.add_address(branch, BRANCH_IF, f"{t.branch_address(n)}/24")


def _wait_for_branch_uplinks(t: LabTopology) -> None:
    """Wait (bounded) until every branch forwards on its uplink to sw-funds: STP holds a
    port that just gained carrier in listening and learning for 4 s."""
    deadline = time.monotonic() + _STP_SETTLE_S
    pending = list(t.branch_hosts)
    while pending and time.monotonic() < deadline:
        pending = [
            host
            for host in pending
            if nl.bridge_port_state(t.namespace(host), BRANCH_UPLINKS[SW_FUNDS]) != "forwarding"
        ]
        if pending:
            time.sleep(0.2)
    if pending:
        raise LabError(
            f"the access bridge of {', '.join(pending)} did not start forwarding on its "
            f"uplink to {SW_FUNDS} within {_STP_SETTLE_S:.0f} s; run `dr lab down`, then "
            "`dr lab up` again"
        )


def build(topology: LabTopology) -> None:
    """Create the lab network of docs/lab.md, or complete a half-built one.

    Idempotent, and it restores the initial state: every link up (healing line cuts)
    and every branch on its primary line.
    """
    _refuse_foreign_lab_addresses(topology)
    for ns in topology.namespaces:
        nl.create_namespace(ns)
    _build_mgmt(topology)
    _build_dc_lan(topology)
    for n in range(1, topology.branches + 1):
        _build_branch(topology, n)
    # Only the core routes; the root namespace's own ip_forward is never touched.
    nl.set_sysctl(topology.namespace(CORE), "net.ipv4.ip_forward", "1")
    _wait_for_branch_uplinks(topology)


def teardown(prefix: str = "drlab-", *, mgmt_veth_prefix: str = MGMT_VETH_PREFIX) -> list[str]:
    """Remove every lab namespace (stopping its processes) and every root-namespace lab
    interface; return what was removed. Safe on an absent or half-built lab."""
    _check_prefix(prefix)
    _check_prefix(mgmt_veth_prefix)
    removed: list[str] = []
    # Root-side ends go first and explicitly: a veth whose peer namespace is being
    # destroyed disappears only later, asynchronously, and a check right after
    # teardown would still see it.
    for name, link in nl.links(None).items():
        if name.startswith((prefix, mgmt_veth_prefix)) and nl.link_kind(link) in {"veth", "bridge"}:
            nl.delete_link(None, name)
            removed.append(f"link {name}")
    for ns in nl.list_namespaces(prefix):
        nl.delete_namespace(ns)
        removed.append(f"netns {ns}")
    return removed


def swap_to_standby(topology: LabTopology, branch: int) -> None:
    """The seed's cable swap on sw-funds: ln-N leaves brN, then xc-N joins it."""
    funds = topology.namespace(SW_FUNDS)
    nl.detach(funds, f"ln-{branch}")
    nl.attach(funds, f"xc-{branch}", f"br{branch}")


def swap_to_primary(topology: LabTopology, branch: int) -> None:
    """Undo the swap: xc-N leaves brN on sw-funds, then ln-N joins it."""
    funds = topology.namespace(SW_FUNDS)
    nl.detach(funds, f"xc-{branch}")
    nl.attach(funds, f"ln-{branch}", f"br{branch}")


def spare_to_standby(topology: LabTopology, branch: int) -> None:
    """The spare's initial state: every port of branch N detached, so it forwards nothing
    until a switch-failover configures it (ports stay up: carrier is observable)."""
    spare = topology.namespace(SW_SPARE)
    for port in (f"acc-{branch}", f"ln-{branch}", f"xc-{branch}"):
        nl.detach(spare, port)


def add_vip(topology: LabTopology, host: str) -> None:
    """Put the service VIP on `host`'s lan0 and make the core's ARP cache follow."""
    ns = topology.namespace(host)
    nl.add_address(ns, LAN_IF, f"{topology.vip}/{topology.vip_prefix}")
    _announce(ns, topology.vip)
    # The core ignores an ARP update that comes within `locktime` (1 s) of the last one
    # unless arp_accept is set, and without arping there is no update at all: it would
    # keep sending to the old owner's MAC until the entry fails. Forgetting the entry
    # makes it ask again at once, so a move is effective when this returns.
    nl.ip("neigh", "flush", "to", topology.vip, netns=topology.namespace(CORE))


def remove_vip(topology: LabTopology, host: str) -> None:
    nl.delete_address(topology.namespace(host), LAN_IF, f"{topology.vip}/{topology.vip_prefix}")


def holds_vip(topology: LabTopology, host: str) -> bool:
    cidr = f"{topology.vip}/{topology.vip_prefix}"
    return (LAN_IF, cidr) in nl.addresses(topology.namespace(host), LAN_IF)


def vip_holders(topology: LabTopology) -> list[str]:
    """The hosts on the DC LAN that hold the service VIP now (one, in a sound lab)."""
    return [host for host in DC_HOSTS if holds_vip(topology, host)]


def _announce(ns: str, address: str) -> None:
    """Send a gratuitous ARP for `address` from lan0, as a real failover does, so every
    neighbour (not only the core) learns the new owner. Best effort: iputils-arping may
    be missing, and `add_vip` does not depend on it."""
    if shutil.which("arping") is None:
        return
    argv = nl.in_netns(ns, ["arping", "-q", "-U", "-c", "1", "-I", LAN_IF, address])
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(argv, capture_output=True, timeout=10, check=False)
