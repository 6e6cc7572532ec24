"""The drill lab's network on real namespaces: reachability, line cuts, the cable swap,
the VIP move, isolation from the outside, teardown and idempotent builds.

Needs root; without it these tests fail (never skip), so CI cannot go green without them.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import netns as nl
from lab.errors import LabError
from lab.topology import (
    LabTopology,
    LineKind,
    add_vip,
    build,
    line_port,
    remove_vip,
    swap_to_primary,
    swap_to_standby,
    teardown,
)

# exclusive_lab: this module builds and removes the lab's own namespaces, so it runs
# before the session's shared lab exists (tests/conftest.py orders it first).
pytestmark = [pytest.mark.integration, pytest.mark.exclusive_lab]

TOPO = LabTopology(branches=2)
LOCK_FILE = Path("/run/lock/drlab-network-tests.lock")
LOCK_WAIT_S = 240.0
LINE_KINDS: tuple[LineKind, ...] = ("primary", "standby")


def _hold_lock() -> int:
    """Serialise with another run of this suite (a CI clone) on the same machine: both
    would build the same namespaces and addresses."""
    fd = os.open(LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                pytest.fail(f"another lab network test run held {LOCK_FILE} for too long")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def net_lab() -> Iterator[LabTopology]:
    if os.geteuid() != 0:
        pytest.fail("the lab network tests must run as root (they create namespaces)")
    fd = _hold_lock()
    try:
        present = nl.list_namespaces(TOPO.prefix)
        if present:
            pytest.fail(f"a lab is already up ({', '.join(present)}); run `dr lab down` first")
        try:
            build(TOPO)
            yield TOPO
        finally:
            teardown(TOPO.prefix)
    finally:
        os.close(fd)


def ns(host: str) -> str:
    return TOPO.namespace(host)


def reaches(host: str, address: str) -> bool:
    # Two tries: right after a port change the first probe may be spent on ARP.
    return nl.ping(ns(host), address, count=1, timeout=1) or nl.ping(ns(host), address)


def heal(topo: LabTopology) -> None:
    for branch in (1, 2):
        for kind in LINE_KINDS:
            nl.set_link(*line_port(topo, branch, kind), up=True)
        swap_to_primary(topo, branch)


def lab_root_links() -> list[str]:
    return [n for n in nl.list_links(None) if n.startswith((TOPO.prefix, TOPO.mgmt_veth_prefix))]


def test_orchestrator_reaches_every_hosts_mgmt_address(net_lab: LabTopology) -> None:
    hosts = net_lab.hosts
    unreachable = [h for h in hosts if not nl.ping(None, net_lab.mgmt_address(h), timeout=2)]
    assert unreachable == []


def test_branch_reaches_dc_a_and_vip_only_through_sw_funds(net_lab: LabTopology) -> None:
    add_vip(net_lab, "dc-a")
    assert reaches("branch-1", net_lab.lan_address("dc-a"))
    assert reaches("branch-1", net_lab.vip)
    try:
        nl.detach(ns("sw-funds"), "ln-1")
        assert not nl.ping(ns("branch-1"), net_lab.vip)
        assert reaches("branch-2", net_lab.vip)
    finally:
        nl.attach(ns("sw-funds"), "ln-1", "br1")
    assert reaches("branch-1", net_lab.vip)


def test_line_cut_then_swap_to_standby_and_back(net_lab: LabTopology) -> None:
    dc_a = net_lab.lan_address("dc-a")
    try:
        nl.set_link(*line_port(net_lab, 1, "primary"), up=False)
        assert not nl.ping(ns("branch-1"), dc_a)
        line = nl.link_info(ns("sw-funds"), "ln-1")
        assert (line.up, line.carrier, line.master) == (True, False, "br1")
        assert "NO-CARRIER" in nl.ip("link", "show", "dev", "ln-1", netns=ns("sw-funds"))
        assert reaches("branch-2", dc_a)

        swap_to_standby(net_lab, 1)
        assert nl.link_info(ns("sw-funds"), "ln-1").master is None
        assert nl.link_info(ns("sw-funds"), "xc-1").master == "br1"
        assert reaches("branch-1", dc_a)
        assert reaches("branch-2", dc_a)

        nl.set_link(*line_port(net_lab, 1, "primary"), up=True)
        swap_to_primary(net_lab, 1)
        # Prove the path is the primary line: cutting the standby changes nothing.
        nl.set_link(*line_port(net_lab, 1, "standby"), up=False)
        assert reaches("branch-1", dc_a)
        assert reaches("branch-2", dc_a)
    finally:
        heal(net_lab)


def test_vip_moves_from_dc_a_to_dc_b(net_lab: LabTopology) -> None:
    add_vip(net_lab, "dc-a")
    assert reaches("branch-1", net_lab.vip)
    try:
        remove_vip(net_lab, "dc-a")
        add_vip(net_lab, "dc-b")
        assert ("lan0", f"{net_lab.vip}/24") not in nl.addresses(ns("dc-a"), "lan0")
        assert reaches("branch-1", net_lab.vip)
        assert reaches("branch-2", net_lab.vip)
        dc_b_mac = nl.ip("-j", "link", "show", "dev", "lan0", netns=ns("dc-b"))
        core_entry = nl.ip("neigh", "show", "to", net_lab.vip, netns=ns("core"))
        assert core_entry.split("lladdr ")[1].split()[0] in dc_b_mac
    finally:
        remove_vip(net_lab, "dc-b")
        add_vip(net_lab, "dc-a")


def test_nothing_routes_off_the_machine(net_lab: LabTopology) -> None:
    for namespace in net_lab.namespaces:
        assert not [r for r in nl.routes(namespace) if r["dst"] == "default"], namespace
        # Any address off the machine (this one is documentation space).
        assert not nl.ping(namespace, "192.0.2.1", timeout=1), namespace
    forwarding = {
        namespace: nl.ip("netns", "exec", namespace, "cat", "/proc/sys/net/ipv4/ip_forward")
        for namespace in net_lab.namespaces
    }
    assert {k for k, v in forwarding.items() if v.strip() == "1"} == {ns("core")}
    lab_in_root = [a for _, a in nl.addresses(None) if a.startswith(("10.77.", "10.78."))]
    assert lab_in_root == ["10.77.0.1/24"]


def test_build_twice_changes_nothing(net_lab: LabTopology) -> None:
    places: list[str | None] = [*net_lab.namespaces, None]

    def snapshot() -> dict[str | None, object]:
        return {
            n: (sorted(nl.addresses(n)), sorted(map(str, nl.routes(n))), nl.list_links(n))
            for n in places
        }

    before = snapshot()
    build(net_lab)
    assert snapshot() == before
    assert reaches("branch-1", net_lab.lan_address("dc-a"))


def test_teardown_removes_all_and_build_completes_a_half_built_lab(net_lab: LabTopology) -> None:
    removed = teardown(net_lab.prefix)
    assert f"netns {ns('core')}" in removed and f"link {net_lab.mgmt_bridge}" in removed
    assert nl.list_namespaces("drlab-") == []
    assert lab_root_links() == []
    assert teardown(net_lab.prefix) == []

    # Half-built: some namespaces, the bridge, one mgmt veth, nothing else.
    nl.create_namespace(ns("core"))
    nl.create_namespace(ns("dc-a"))
    nl.create_bridge(None, net_lab.mgmt_bridge)
    nl.create_veth(None, net_lab.mgmt_veth("dc-a"), ns("dc-a"), "mgmt0")
    build(net_lab)
    add_vip(net_lab, "dc-a")
    assert all(nl.ping(None, net_lab.mgmt_address(h), timeout=2) for h in net_lab.hosts)
    assert reaches("branch-1", net_lab.vip) and reaches("branch-2", net_lab.vip)


def test_unsafe_prefixes_are_refused() -> None:
    with pytest.raises(LabError, match="unsafe"):
        LabTopology(prefix="")
    with pytest.raises(LabError, match="unsafe"):
        teardown("d")
    with pytest.raises(LabError, match="branches"):
        LabTopology(branches=155)
