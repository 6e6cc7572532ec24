"""What the planned switchover, the standby rebuild and the switchback share beyond
runbooks/_dual_host.py: who is primary right now, which standby streams, and turning an
old primary into a standby (pg_rewind, or a fresh base backup when rewind cannot work).

The inventory names a pair's *declared* roles; after a switchover or a cutover the
live roles differ, so these runbooks always ask the hosts. The primary is the database
that is not in recovery; should both claim it, the one holding the VIP is the one
the branches write to, and the other must be stopped before anything else happens.

The commands come from the inventory's `host_pairs[].control`; what they print is read
by the facts of orchestrator/postgresql (status, replication).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import HostKeyRejected, StepFailed, TransportError
from orchestrator.inventory import resolve_secret
from orchestrator.postgresql import debian_commands
from orchestrator.postgresql.errors import UnreadableOutput
from orchestrator.postgresql.replication import (
    Replica,
    Upstream,
    parse_replicas,
    pgpass_line,
    streaming_from,
)
from orchestrator.postgresql.status import ControlData, DatabaseStatus, parse_control_data
from runbooks._dual_host import (
    control,
    database_address,
    database_status,
    holds_vip,
    unreadable,
)

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair
    from orchestrator.transports.ssh import CommandResult

# A base backup copies the whole cluster over the DC LAN: its time grows with the
# cluster's size, so the bound is generous.
COPY_TIMEOUT_S = 1800.0


# ---- live roles ----------------------------------------------------------------------


@dataclass(frozen=True)
class LiveRoles:
    """The pair as it is now: the primary (None when no database is writable) and the
    other host, with what each database said about itself (None: no answer)."""

    primary: Host | None
    other: Host
    primary_status: DatabaseStatus | None
    other_status: DatabaseStatus | None

    @property
    def other_is_stray_primary(self) -> bool:
        return self.other_status is not None and self.other_status.is_primary


def live_roles(ctx: StepContext, pair: HostPair) -> LiveRoles:
    """Which of the pair's two hosts is the primary right now."""
    hosts = [ctx.inventory.host(pair.primary), ctx.inventory.host(pair.standby)]
    statuses = [database_status(ctx, pair, host) for host in hosts]
    writable = [i for i, status in enumerate(statuses) if status is not None and status.is_primary]
    if len(writable) == 2:
        with_vip = [i for i in writable if holds_vip(ctx, pair, hosts[i])]
        if len(with_vip) != 1:
            raise StepFailed(
                f"both {hosts[0].name} and {hosts[1].name} run a writable primary and "
                f"{'both' if with_vip else 'neither'} hold the VIP: decide by hand which "
                "one keeps the data (split brain), stop the other, then run this again"
            )
        writable = with_vip
    if not writable:
        return LiveRoles(None, hosts[1], None, statuses[1])
    index = writable[0]
    return LiveRoles(hosts[index], hosts[1 - index], statuses[index], statuses[1 - index])


def host_of(ctx: StepContext, pair: HostPair, wanted: str) -> Host:
    """`primary` / `standby` (the pair's declared roles) or one of the pair's host names."""
    name = {"primary": pair.primary, "standby": pair.standby}.get(wanted, wanted)
    if name not in (pair.primary, pair.standby):
        raise StepFailed(
            f"{wanted!r} is not a host of pair {pair.name}: use primary, standby, "
            f"{pair.primary} or {pair.standby}"
        )
    return ctx.inventory.host(name)


# ---- reads: replicas and control data ----------------------------------------------------


def replicas(ctx: StepContext, pair: HostPair, primary: Host) -> list[Replica] | None:
    """The standbys `primary` is sending WAL to; None when it does not answer."""
    try:
        result = ctx.ssh(primary, control(pair, "db_replicas", primary), warn=True, timeout=30)
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return None
    if not result.ok:
        return None
    try:
        return parse_replicas(result.stdout)
    except UnreadableOutput as err:
        raise unreadable(pair, primary, "db_replicas", err) from None


def streaming_replica(
    ctx: StepContext, pair: HostPair, primary: Host, standby: Host
) -> Replica | None:
    """`standby`'s row on `primary` when it is streaming from it right now."""
    return streaming_from(replicas(ctx, pair, primary) or [], database_address(pair, standby))


def control_data(ctx: StepContext, pair: HostPair, host: Host) -> ControlData | None:
    """pg_controldata of `host`'s cluster; None when the host or the command fails."""
    try:
        result = ctx.ssh(host, control(pair, "db_controldata", host), warn=True, timeout=30)
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError:
        return None
    if not result.ok:
        return None
    try:
        return parse_control_data(result.stdout)
    except UnreadableOutput as err:
        raise unreadable(pair, host, "db_controldata", err) from None


# ---- turning an old primary into a standby ---------------------------------------------


def follow_command(pair: HostPair, action: str, host: Host, upstream: Host) -> str:
    """The control command `action` on `host`, aimed at `upstream`'s database: the
    inventory's template with its placeholders filled in (quoted), or the Debian default
    built for that primary."""
    database = pair.database
    port = database.port if database is not None else 5432
    user = database.replication_user if database is not None else "replicator"
    address = database_address(pair, upstream)
    if getattr(pair.control, action) is None:
        return debian_commands.FOLLOW[action](Upstream(address, port, user))
    return control(pair, action, host, upstream=address, port=port, replication_user=user)


def store_replication_password(
    ctx: StepContext, pair: HostPair, host: Host, upstream: Host
) -> None:
    """Give `host` the replication password for `upstream` as a .pgpass line, on the
    command's standard input: it never appears in a command line or the journal."""
    database = pair.database
    if database is None or database.replication_password is None:
        raise StepFailed(
            f"host pair {pair.name} has no database.replication_password in the inventory; "
            "the new standby needs it to connect to the primary"
        )
    line = pgpass_line(
        database_address(pair, upstream),
        database.port,
        database.replication_user,
        resolve_secret(database.replication_password),
    )
    ctx.ssh(host, control(pair, "db_store_password", host), stdin=line, timeout=30)


def checkpoint(ctx: StepContext, pair: HostPair, primary: Host) -> None:
    ctx.ssh(primary, control(pair, "db_checkpoint", primary), timeout=300)


def rewind(ctx: StepContext, pair: HostPair, host: Host, upstream: Host) -> CommandResult:
    """pg_rewind `host` onto `upstream` (and write its standby configuration); the result
    is returned, not raised: a failed rewind is the cue for a base backup."""
    return ctx.ssh(
        host, follow_command(pair, "db_rewind", host, upstream), warn=True, timeout=COPY_TIMEOUT_S
    )


def base_backup(ctx: StepContext, pair: HostPair, host: Host, upstream: Host) -> None:
    """Replace `host`'s cluster by a fresh copy of `upstream`'s, as its standby."""
    ctx.ssh(host, follow_command(pair, "db_base_backup", host, upstream), timeout=COPY_TIMEOUT_S)
