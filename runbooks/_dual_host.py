"""What the dual-host (双机) runbooks share: the pair, its database and service, the VIP,
and the end-to-end check from a branch.

The runbooks: dual_host_cutover.py (unplanned), and the planned switchover, standby
rebuild and switchback. Everything here reaches hosts through `ctx.ssh`; the commands
that drive the database and the service come from the inventory's
`host_pairs[].control` (defaults: Debian PostgreSQL 15 and a systemd unit), so the
same functions run on the lab and on production hosts. What those commands print is
read by orchestrator/postgresql, which knows PostgreSQL; this module knows the pair.

Reads return values (never raise for "no"), changes raise `StepFailed` when the host
says no. A host that cannot be reached at all is `None` / False for a read: the
caller decides what that means, which for a pair is often the whole question.
"""

from __future__ import annotations

import json
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import ip_interface
from typing import TYPE_CHECKING

from orchestrator.errors import HostKeyRejected, StepFailed, TransportError
from orchestrator.inventory.command_templates import fill
from orchestrator.postgresql import debian_commands
from orchestrator.postgresql.errors import UnreadableOutput
from orchestrator.postgresql.status import DatabaseStatus, parse_status
from orchestrator.runbook import Param, Verdict

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair

PAIR_PARAMS = {
    "pair": Param("", "the host pair (host_pairs name in the inventory); empty: the first one"),
    "branches": Param(
        "role:branch-client", "hosts that check the service from a branch (a host selector)"
    ),
}
# Long enough for a loaded host, short enough that a dead one does not stall a cutover.
PROBE_TIMEOUT_S = 10.0
# A branch's HTTP request to the service: a dead VIP costs this much per branch.
HTTP_TIMEOUT_S = 2

# A branch's view of the service: GET the health URL, then (for a write check) create a
# loan and read it back, all through the VIP. Prints one JSON object.
_BRANCH_PROBE = r"""
import json, sys, urllib.request
base, write = sys.argv[1].rstrip("/"), sys.argv[2] == "write"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out = {"health": None}
def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with opener.open(req, timeout=float(sys.argv[3])) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {}
    except (OSError, ValueError) as e:
        return None, {"error": str(e)}
out["health"], _ = call("GET", "/health")
if write and out["health"] == 200:
    status, loan = call("POST", "/loans", {"amount": "1000.00", "branch": "dr-e2e-check"})
    out["write"], out["loan_id"] = status, loan.get("id")
    if status == 201 and loan.get("id") is not None:
        out["read"], _ = call("GET", "/loans/%d" % int(loan["id"]))
print(json.dumps(out))
"""


# ---- the pair ------------------------------------------------------------------------


def the_pair(ctx: StepContext) -> HostPair:
    """The pair named by the `pair` parameter, or the inventory's first pair."""
    pairs = ctx.inventory.host_pairs
    wanted = str(ctx.params.get("pair") or "")
    for pair in pairs:
        if pair.name == wanted or not wanted:
            return pair
    if not pairs:
        raise StepFailed("the inventory declares no host pair (host_pairs)")
    names = ", ".join(p.name for p in pairs)
    raise StepFailed(f"the inventory has no host pair {wanted!r}; pairs: {names}")


def primary_of(ctx: StepContext, pair: HostPair) -> Host:
    return ctx.inventory.host(pair.primary)


def standby_of(ctx: StepContext, pair: HostPair) -> Host:
    return ctx.inventory.host(pair.standby)


def control(pair: HostPair, action: str, host: Host, **values: object) -> str:
    """The inventory's command for `action` (a `PairControl` field) on `host`, or the
    Debian default where the inventory leaves it out; `{host}` and the placeholders in
    `values` filled in, shell-quoted."""
    command = getattr(pair.control, action)
    if command is None:
        command = debian_commands.DEFAULTS[action]
    return fill(str(command), host=host.name, **values)


def vip_address(pair: HostPair) -> str:
    """The VIP without its prefix length."""
    return str(ip_interface(str(pair.vip)).ip)


# ---- reads ---------------------------------------------------------------------------


def reachable(ctx: StepContext, host: Host) -> bool:
    """Whether `host` answers over SSH right now (the orchestrator's own vantage point).

    A refused host key raises `HostKeyRejected` instead of answering False: a host that
    offers the wrong key may be someone else in its place, and reading it as down would
    let a cutover fence (cut the power of) a primary that may be healthy."""
    try:
        return ctx.ssh(host, "true", warn=True, timeout=PROBE_TIMEOUT_S).ok
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return False


def database_status(ctx: StepContext, pair: HostPair, host: Host) -> DatabaseStatus | None:
    """The database's role and replication position on `host`; None when the host or its
    database does not answer."""
    try:
        result = ctx.ssh(host, control(pair, "db_status", host), warn=True, timeout=30)
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return None
    if not result.ok:
        return None
    try:
        return parse_status(result.stdout)
    except UnreadableOutput as err:
        raise unreadable(pair, host, "db_status", err) from None


def unreadable(pair: HostPair, host: Host, action: str, err: UnreadableOutput) -> StepFailed:
    """A control command printed what its parser cannot read: the inventory's command
    for `action` is the first suspect."""
    return StepFailed(
        f"{host.name}: {err.message} (check host_pairs[{pair.name}].control.{action})"
    )


def service_running(ctx: StepContext, pair: HostPair, host: Host) -> bool | None:
    """Whether the pair's service runs on `host`; None when the host does not answer."""
    try:
        return ctx.ssh(host, control(pair, "service_running", host), warn=True, timeout=30).ok
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return None


def holds_vip(ctx: StepContext, pair: HostPair, host: Host) -> bool | None:
    """Whether the VIP is configured on `host`; None when the host does not answer."""
    command = (
        f"ip -o addr show dev {shlex.quote(pair.vip_interface)} to {shlex.quote(vip_address(pair))}"
    )
    try:
        result = ctx.ssh(host, command, warn=True, timeout=PROBE_TIMEOUT_S)
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return None
    return result.ok and bool(result.stdout.strip())


def database_address(pair: HostPair, host: Host) -> str:
    """Where `host`'s database listens on the data-centre LAN (the pair's replication
    address), else its inventory address."""
    database = pair.database
    if database is not None and host.name in database.replication_addresses:
        return str(database.replication_addresses[host.name])
    return str(host.address)


def database_reachable_from(
    ctx: StepContext, pair: HostPair, observer: Host, target: Host
) -> bool | None:
    """Whether `target`'s database accepts TCP connections as seen from `observer` (the
    standby, on the data-centre LAN: a vantage point a cut management path does not
    cut); None when `observer` itself does not answer."""
    port = pair.database.port if pair.database is not None else 5432
    address = database_address(pair, target)
    probe = (
        "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), "
        f"{HTTP_TIMEOUT_S}).close()"
    )
    command = f"python3 -c {shlex.quote(probe)} {shlex.quote(address)} {port}"
    try:
        return ctx.ssh(observer, command, warn=True, timeout=PROBE_TIMEOUT_S).ok
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return None


@dataclass(frozen=True)
class BranchView:
    """The service as one branch sees it through the VIP."""

    branch: str
    answered: bool  # the branch host itself could be asked
    health: int | None = None
    write: int | None = None
    read: int | None = None
    loan_id: int | None = None

    @property
    def serving(self) -> bool:
        return self.health == 200

    @property
    def read_and_write_ok(self) -> bool:
        return self.serving and self.write == 201 and self.read == 200


def branch_view(ctx: StepContext, pair: HostPair, branch: Host, *, write: bool) -> BranchView:
    """Ask `branch` whether the service answers through the VIP; with `write`, also
    create a loan and read it back (the end-to-end check)."""
    if pair.service_url is None:
        raise StepFailed(f"host pair {pair.name} has no service_url; the branch check needs it")
    url = str(pair.service_url).removesuffix("/health")
    command = (
        f"python3 -c {shlex.quote(_BRANCH_PROBE)} {shlex.quote(url)} "
        f"{'write' if write else 'read'} {HTTP_TIMEOUT_S}"
    )
    try:
        result = ctx.ssh(branch, command, warn=True, timeout=PROBE_TIMEOUT_S + 10)
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return BranchView(branch.name, answered=False)
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return BranchView(branch.name, answered=False)
    return BranchView(
        branch.name,
        answered=True,
        health=data.get("health"),
        write=data.get("write"),
        read=data.get("read"),
        loan_id=data.get("loan_id"),
    )


def end_to_end_through_vip(ctx: StepContext, pair: HostPair) -> Verdict:
    """The end-to-end check of every takeover: some branch writes a loan through the VIP
    and reads it back."""
    for branch in ctx.hosts(str(ctx.params["branches"])):
        view = branch_view(ctx, pair, branch, write=True)
        if view.read_and_write_ok:
            return Verdict(True, f"{branch.name}: wrote loan {view.loan_id} and read it back")
    return Verdict(False, "no branch can write and read through the VIP yet")


def branch_views(ctx: StepContext, pair: HostPair, *, write: bool = False) -> list[BranchView]:
    """Every branch's view, asked in parallel (a dead VIP costs each a timeout)."""
    branches = ctx.hosts(str(ctx.params["branches"]))
    if not branches:
        return []
    with ThreadPoolExecutor(max_workers=min(len(branches), 16)) as pool:
        return list(pool.map(lambda b: branch_view(ctx, pair, b, write=write), branches))


# ---- changes -------------------------------------------------------------------------


def _control(ctx: StepContext, pair: HostPair, action: str, host: Host, timeout: float) -> None:
    try:
        ctx.ssh(host, control(pair, action, host), timeout=timeout)
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError as err:
        raise StepFailed(f"{host.name}: cannot run {action}: {err.message}") from None


def promote(ctx: StepContext, pair: HostPair, host: Host) -> None:
    """Promote the standby on `host` to a writable primary. PostgreSQL refuses a server
    that is not a standby: callers read the status first (the step's verify)."""
    _control(ctx, pair, "db_promote", host, timeout=90)


def stop_database(ctx: StepContext, pair: HostPair, host: Host) -> None:
    _control(ctx, pair, "db_stop", host, timeout=90)


def start_database(ctx: StepContext, pair: HostPair, host: Host) -> None:
    _control(ctx, pair, "db_start", host, timeout=90)


def start_service(ctx: StepContext, pair: HostPair, host: Host) -> None:
    _control(ctx, pair, "service_start", host, timeout=60)


def stop_service(ctx: StepContext, pair: HostPair, host: Host) -> None:
    _control(ctx, pair, "service_stop", host, timeout=60)


def release_vip(ctx: StepContext, pair: HostPair, host: Host) -> None:
    """Remove the VIP from `host` (nothing to do when it does not hold it)."""
    device = shlex.quote(pair.vip_interface)
    address = shlex.quote(str(pair.vip))
    ctx.ssh(
        host,
        f"if ip -o addr show dev {device} to {shlex.quote(vip_address(pair))} | grep -q .; "
        f"then ip addr del {address} dev {device}; fi",
        timeout=PROBE_TIMEOUT_S,
    )


def take_vip(ctx: StepContext, pair: HostPair, host: Host) -> None:
    """Configure the VIP on `host` and announce it with gratuitous ARP (arping -U), so the
    routers and clients on the LAN send to the new owner at once."""
    device = shlex.quote(pair.vip_interface)
    # Two announcements a second apart, in the background: a neighbour that saw the old
    # owner within its ARP locktime ignores the first. Nobody answers a gratuitous ARP,
    # so arping's exit status means nothing.
    announce = f"arping -q -U -c 2 -I {device} {shlex.quote(vip_address(pair))}"
    ctx.ssh(
        host,
        f"ip addr replace {shlex.quote(str(pair.vip))} dev {device} && "
        f"{{ setsid {announce} >/dev/null 2>&1 < /dev/null & }}",
        timeout=30,
    )
