"""What the dual-host (双机) runbooks share: the pair, its database and service, the VIP,
and the branches' view of the service (the end-to-end check is the pair's probe:
_probes.py).

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
from runbooks import _probes

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair

PAIR_PARAMS = {
    "pair": Param(
        "",
        "the host pair (host_pairs name in the inventory); empty: the first one",
        refers_to="pair",
    ),
    "branches": Param(
        "role:branch-client",
        "hosts that check the service from a branch (a host selector)",
        refers_to="hosts",
    ),
}
# Long enough for a loaded host, short enough that a dead one does not stall a cutover.
PROBE_TIMEOUT_S = 10.0
# A branch's HTTP request to the service: a dead VIP costs this much per branch.
HTTP_TIMEOUT_S = 2

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
    """The service as one branch sees it through the VIP (a GET of the health URL)."""

    branch: str
    answered: bool  # the branch host itself could be asked
    health: int | None = None

    @property
    def serving(self) -> bool:
        return self.health == 200


def branch_view(ctx: StepContext, pair: HostPair, branch: Host) -> BranchView:
    """Ask `branch` whether the service answers through the VIP: read-only, whatever the
    pair's probe (a GET of the health URL)."""
    out = _probes.run_script(ctx, branch, _probes.health_arguments(pair))
    if not out:
        return BranchView(branch.name, answered=False)
    return BranchView(branch.name, answered=True, health=out.get("status"))


def end_to_end_through_vip(
    ctx: StepContext, pair: HostPair, *, every_branch: bool = False
) -> Verdict:
    """The end-to-end check of every takeover: the pair's probe (inventory `probe:`),
    from the branches named by the `branches` parameter or from this machine."""
    branches = ctx.hosts(str(ctx.params["branches"]))
    return _probes.verify_service(ctx, pair, branches, every_branch=every_branch)


def branch_views(ctx: StepContext, pair: HostPair) -> list[BranchView]:
    """Every branch's view, asked in parallel (a dead VIP costs each a timeout)."""
    branches = ctx.hosts(str(ctx.params["branches"]))
    if not branches:
        return []
    with ThreadPoolExecutor(max_workers=min(len(branches), 16)) as pool:
        return list(pool.map(lambda b: branch_view(ctx, pair, b), branches))


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


def release_vip_command(pair: HostPair) -> str:
    """The command that removes the VIP from a host (nothing when it does not hold it)."""
    device = shlex.quote(pair.vip_interface)
    address = shlex.quote(str(pair.vip))
    return (
        f"if ip -o addr show dev {device} to {shlex.quote(vip_address(pair))} | grep -q .; "
        f"then ip addr del {address} dev {device}; fi"
    )


def release_vip(ctx: StepContext, pair: HostPair, host: Host) -> None:
    """Remove the VIP from `host` (nothing to do when it does not hold it)."""
    ctx.ssh(host, release_vip_command(pair), timeout=PROBE_TIMEOUT_S)


def take_vip_command(pair: HostPair) -> str:
    """The command that configures the VIP on a host and announces it with gratuitous
    ARP (arping -U), so the routers and clients on the LAN send to the new owner at once."""
    device = shlex.quote(pair.vip_interface)
    # Two announcements a second apart, in the background: a neighbour that saw the old
    # owner within its ARP locktime ignores the first. Nobody answers a gratuitous ARP,
    # so arping's exit status means nothing.
    announce = f"arping -q -U -c 2 -I {device} {shlex.quote(vip_address(pair))}"
    return (
        f"ip addr replace {shlex.quote(str(pair.vip))} dev {device} && "
        f"{{ setsid {announce} >/dev/null 2>&1 < /dev/null & }}"
    )


def take_vip(ctx: StepContext, pair: HostPair, host: Host) -> None:
    """Configure the VIP on `host` and announce it (take_vip_command)."""
    ctx.ssh(host, take_vip_command(pair), timeout=30)
