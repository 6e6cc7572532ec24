"""Network-namespace primitives for the drill lab, as thin wrappers over `ip` and `sysctl`.

Every function runs one program directly (no shell) and raises `LabError` with the exact
command, its stderr and what to do next when it fails. Functions that create something
are idempotent: they look first and only do the difference, so `dr lab up` can be run
again over a half-built lab. `netns=None` means the root namespace.

This module knows nothing about the lab's plan; `topology.py` decides names and
addresses.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.errors import LabError

IP = "ip"
COMMAND_TIMEOUT_S = 30.0
KILL_GRACE_S = 5.0
RETRY_HINT = (
    "`dr lab` must run as root with iproute2 installed; `dr lab down` removes a "
    "half-built lab, then run `dr lab up` again."
)


@dataclass(frozen=True)
class LinkInfo:
    """What `ip link` reports about one interface.

    `up` is the administrative state (the UP flag); `carrier` is the lower layer (for a
    veth: whether its peer is up). A cut line therefore shows `up=True, carrier=False`
    on the switch side, like a copper port whose far end went dark.
    """

    name: str
    operstate: str
    carrier: bool
    master: str | None
    up: bool


def _run(
    argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(
            f"`{argv[0]}` is not installed; install iproute2 and procps "
            "(apt-get install iproute2 procps iputils-ping)."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s.") from exc


def _checked(argv: Sequence[str]) -> str:
    result = _run(argv)
    if result.returncode != 0:
        stderr = result.stderr.strip() or "(no message)"
        raise LabError(
            f"`{' '.join(argv)}` failed (exit {result.returncode}): {stderr}\n{RETRY_HINT}"
        )
    return result.stdout


def _ip_argv(args: Sequence[str], netns: str | None) -> list[str]:
    # `ip -n NS` enters the namespace itself: cheaper than `ip netns exec`, which also
    # remounts /sys for the child.
    return [IP, *(("-n", netns) if netns else ()), *args]


def ip(*args: str, netns: str | None = None) -> str:
    """Run `ip [-n NETNS] ARGS...` and return its stdout; raise LabError on failure."""
    return _checked(_ip_argv(args, netns))


def _ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    out = ip("-j", *args, netns=netns).strip()
    return list(json.loads(out)) if out else []


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """`argv` prefixed so that it runs inside `netns`."""
    return [IP, "netns", "exec", netns, *argv]


# -- namespaces ------------------------------------------------------------------------


def list_namespaces(prefix: str) -> list[str]:
    """Names of the namespaces (under /run/netns) that start with `prefix`, sorted."""
    return sorted(
        entry["name"] for entry in _ip_json("netns", "list") if entry["name"].startswith(prefix)
    )


def create_namespace(name: str) -> None:
    """Create `name` unless it exists; bring its loopback up (services bind 127.0.0.1)."""
    if name not in list_namespaces(name):
        ip("netns", "add", name)
    ip("link", "set", "lo", "up", netns=name)


def namespace_pids(name: str) -> list[int]:
    """Processes whose network namespace is `name`."""
    return [int(pid) for pid in ip("netns", "pids", name).split()]


def _is_alive(pid: int) -> bool:
    # A zombie has finished; it only waits for its parent to collect it.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _signal_and_wait(pids: list[int], sig: signal.Signals, grace: float) -> list[int]:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + grace
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _is_alive(pid)]
    return alive


def delete_namespace(name: str) -> None:
    """Stop every process in `name` (TERM, then KILL), then delete it; absent is fine.

    A process left inside would keep the namespace, and the veths in it, alive after
    `ip netns delete` merely unmounts its name.
    """
    if name not in list_namespaces(name):
        return
    pids = namespace_pids(name)
    survivors = _signal_and_wait(pids, signal.SIGTERM, KILL_GRACE_S) if pids else []
    if survivors and _signal_and_wait(survivors, signal.SIGKILL, KILL_GRACE_S):
        raise LabError(
            f"processes {survivors} in namespace {name} survived SIGKILL; "
            "they may be stuck in the kernel (D state): check `ps -o pid,stat,cmd -p ...`."
        )
    ip("netns", "delete", name)


# -- links -----------------------------------------------------------------------------


def links(netns: str | None) -> dict[str, dict[str, Any]]:
    """Every interface in `netns`, by name, as `ip -j -d link` describes it."""
    return {link["ifname"]: link for link in _ip_json("-d", "link", "show", netns=netns)}


def list_links(netns: str | None) -> list[str]:
    """Names of every interface in `netns`, `lo` included."""
    return list(links(netns))


def link_kind(link: dict[str, Any]) -> str | None:
    """`veth`, `bridge`, ... or None for a physical/loopback interface."""
    info = link.get("linkinfo") or {}
    kind = info.get("info_kind")
    return str(kind) if kind else None


def _where(netns: str | None) -> str:
    return f"namespace {netns}" if netns else "the root namespace"


def _require_kind(netns: str | None, name: str, link: dict[str, Any], kind: str) -> None:
    if link_kind(link) != kind:
        raise LabError(
            f"{name} in {_where(netns)} exists but is a {link_kind(link) or 'device'}, "
            f"not a {kind}; the lab will not touch it. Remove or rename it, then retry."
        )


def create_veth(a_ns: str | None, a_name: str, b_ns: str | None, b_name: str) -> None:
    """A veth pair `a_name` (in `a_ns`) <-> `b_name` (in `b_ns`); present is fine."""
    a = links(a_ns).get(a_name)
    b = links(b_ns).get(b_name)
    if a is not None and b is not None:
        _require_kind(a_ns, a_name, a, "veth")
        _require_kind(b_ns, b_name, b, "veth")
        return
    if a is not None or b is not None:
        present, where = (a_name, a_ns) if a is not None else (b_name, b_ns)
        raise LabError(
            f"{present} in {_where(where)} exists without its veth peer; "
            "run `dr lab down` to clear the half-built lab, then `dr lab up`."
        )
    # Create from the root side: "netns NAME" resolves names only, and the root
    # namespace has none.
    if a_ns is not None and b_ns is None:
        a_ns, a_name, b_ns, b_name = b_ns, b_name, a_ns, a_name
    peer_ns = ("netns", b_ns) if b_ns is not None and b_ns != a_ns else ()
    ip("link", "add", a_name, "type", "veth", "peer", "name", b_name, *peer_ns, netns=a_ns)


def create_bridge(netns: str | None, name: str) -> None:
    """A Linux bridge `name`; present is fine. STP stays off (the kernel default), so a
    port forwards as soon as it joins: switch-port swaps take effect at once."""
    existing = links(netns).get(name)
    if existing is not None:
        _require_kind(netns, name, existing, "bridge")
        return
    ip("link", "add", "name", name, "type", "bridge", netns=netns)


def delete_link(netns: str | None, name: str) -> None:
    """Delete interface `name` (a veth takes its peer with it); absent is fine."""
    if name in links(netns):
        ip("link", "delete", "dev", name, netns=netns)


def attach(netns: str | None, port: str, bridge: str) -> None:
    ip("link", "set", "dev", port, "master", bridge, netns=netns)


def detach(netns: str | None, port: str) -> None:
    ip("link", "set", "dev", port, "nomaster", netns=netns)


def set_link(netns: str | None, name: str, up: bool) -> None:
    ip("link", "set", "dev", name, "up" if up else "down", netns=netns)


def link_info(netns: str | None, name: str) -> LinkInfo:
    (link,) = _ip_json("link", "show", "dev", name, netns=netns)
    flags = set(link.get("flags", []))
    return LinkInfo(
        name=link["ifname"],
        operstate=str(link.get("operstate", "UNKNOWN")),
        carrier="LOWER_UP" in flags,
        master=link.get("master"),
        up="UP" in flags,
    )


def bridge_port_state(netns: str | None, name: str) -> str | None:
    """The STP state of bridge port `name` ("forwarding", "blocking", "listening", ...),
    or None when it is no bridge's port."""
    (link,) = _ip_json("-d", "link", "show", "dev", name, netns=netns)
    if link.get("linkinfo", {}).get("info_slave_kind") != "bridge":
        return None
    state = link["linkinfo"].get("info_slave_data", {}).get("state")
    return str(state) if state is not None else None


# -- addresses, routes, sysctl ----------------------------------------------------------


def addresses(netns: str | None, ifname: str | None = None) -> list[tuple[str, str]]:
    """(ifname, "address/prefixlen") for every IPv4 address in `netns` (or on `ifname`)."""
    where = ("dev", ifname) if ifname else ()
    return [
        (entry["ifname"], f"{info['local']}/{info['prefixlen']}")
        for entry in _ip_json("-4", "address", "show", *where, netns=netns)
        for info in entry.get("addr_info", [])
    ]


def add_address(netns: str | None, ifname: str, cidr: str) -> None:
    # `replace` succeeds whether or not the address is already there.
    ip("address", "replace", cidr, "dev", ifname, netns=netns)


def delete_address(netns: str | None, ifname: str, cidr: str) -> None:
    """Remove `cidr` from `ifname`; absent is fine."""
    if (ifname, cidr) in addresses(netns, ifname):
        ip("address", "delete", cidr, "dev", ifname, netns=netns)


def add_route(netns: str | None, destination: str, via: str) -> None:
    ip("route", "replace", destination, "via", via, netns=netns)


def routes(netns: str | None) -> list[dict[str, Any]]:
    """The main routing table of `netns`, as `ip -j route` gives it."""
    return _ip_json("route", "show", netns=netns)


def set_sysctl(netns: str, key: str, value: str) -> None:
    """Set a sysctl inside `netns`. There is deliberately no root-namespace variant: the
    lab must never change the machine's own settings (ip_forward above all)."""
    _checked(in_netns(netns, ["sysctl", "-q", "-w", f"{key}={value}"]))


def ping(netns: str | None, address: str, count: int = 1, timeout: int = 1) -> bool:
    """Whether `address` answers ICMP echo from `netns` within `timeout` s per probe."""
    argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout), address]
    result = _run(in_netns(netns, argv) if netns else argv, timeout=count * timeout + 10)
    return result.returncode == 0
