"""Put the lab's credit pair back as `dr lab up` built it, after a cutover drill.

`reset_pair(lab)` leaves dc-a the primary (VIP, credit service) and dc-b its streaming
standby, keeping every committed row of the pair: whichever of the two is the primary
now is the source. It takes the service off the backup room's host (VIP, service, and
its restored cluster, which is stopped and removed: the host is empty again, as `up`
left it), powers dc-a back on (UPS outlet on, host-down and site-loss healed), heals a
partition, then, if
dc-b took over, rewinds dc-a onto dc-b, hands over cleanly (service
stopped, dc-b shut down, dc-a promoted) and makes dc-b a standby of dc-a (pg_rewind,
or a base backup where rewinding is impossible).

This is a lab tool for tests and benchmarks, not a runbook: it acts on the lab's own
processes directly, and it does in seconds what `rebuild-standby` and `switchback` do
over SSH with checks at every step.
"""

from __future__ import annotations

import shutil

from lab import topology
from lab.errors import LabError
from lab.lab import Lab, _wait_healthy
from lab.postgres import Endpoint, PostgresLabError, PostgresServer
from lab.topology import LabTopology
from orchestrator.local_machine import wait_until
from orchestrator.postgresql.errors import PostgresError
from orchestrator.postgresql.replication import pgpass_line

PAIR = ("dc-a", "dc-b")
BACKUP_ROOM_HOST = "backup"
CATCH_UP_TIMEOUT_S = 60.0


def reset_pair(lab: Lab, primary: str = "dc-a") -> None:
    topo = LabTopology(branches=lab.state.load().branches)
    other = PAIR[1] if primary == PAIR[0] else PAIR[0]
    _clear_backup_room(lab, topo)
    _power_back(lab)
    servers = {host: lab.postgres(topo, host) for host in PAIR}
    source = _current_primary(topo, servers)
    if source == primary and _streams_from(servers[other], primary, topo):
        _serve_from(lab, topo, primary)
        return
    for host in PAIR:
        lab.stop_credit_service(host)
        topology.remove_vip(topo, host)
    if source != primary:
        _rebuild_standby(lab, topo, servers[primary], upstream=source)
        _wait_streaming(servers[source], primary)
        # A clean shutdown sends every WAL record, its shutdown checkpoint included, to
        # the standbys streaming from it before it exits: nothing is left behind.
        servers[source].stop("fast")
        _wait_caught_up(servers[primary])
        servers[primary].promote()
    _rebuild_standby(lab, topo, servers[other], upstream=primary)
    _serve_from(lab, topo, primary)


def _clear_backup_room(lab: Lab, topo: LabTopology) -> None:
    """The backup room's host as `dr lab up` left it: no service, no VIP, no cluster."""
    lab.stop_credit_service(BACKUP_ROOM_HOST)
    topology.remove_vip(topo, BACKUP_ROOM_HOST)
    server = lab.postgres(topo, BACKUP_ROOM_HOST)
    if server.is_running:
        server.stop("immediate")
    if server.data_dir.exists() and any(server.data_dir.iterdir()):
        shutil.rmtree(server.data_dir)
    server.prepare_empty()


def _power_back(lab: Lab) -> None:
    """Outlet 1 on (the UPS model powers dc-a up), then any fault left on the pair healed."""
    if "site-loss" in lab.state.load().faults:
        lab.heal("site-loss", [])
    ups = lab.ups().client()
    if ups.get("outlet.1.switch") != "on":
        ups.set("outlet.1.switch", "on")
        wait_until(lambda: "host-down dc-a" not in lab.state.load().faults, timeout=10)
    for key in list(lab.state.load().faults):
        name, _, host = key.partition(" ")
        if name in ("host-down", "partition") and host in PAIR:
            lab.heal(name, [host])


def _current_primary(topo: LabTopology, servers: dict[str, PostgresServer]) -> str:
    """The newest primary: the one holding the VIP when both run as primaries (an old
    primary powered back on boots as one)."""
    primaries = [h for h, s in servers.items() if s.is_running and not s.is_standby]
    if not primaries:
        raise LabError("no primary runs in the lab's credit pair; rebuild the lab")
    for host in primaries:
        if topology.holds_vip(topo, host):
            return host
    return primaries[0]


def _streams_from(standby: PostgresServer, upstream: str, topo: LabTopology) -> bool:
    if not (standby.is_running and standby.is_standby):
        return False
    conninfo = (standby.data_dir / "postgresql.auto.conf").read_text(errors="replace")
    return f"host={topo.lan_address(upstream)} " in conninfo


def _rebuild_standby(lab: Lab, topo: LabTopology, server: PostgresServer, upstream: str) -> None:
    """Make `server` a standby of `upstream`: pg_rewind (seconds: only changed blocks),
    or a fresh base backup where rewinding is impossible."""
    source = Endpoint(topo.lan_address(upstream), 5432)
    if server.is_running:
        _stop_old_primary(server)
    password = lab.state.secret("replicator_password")
    server.store_upstream_password(pgpass_line(source.host, source.port, "replicator", password))
    lab.postgres(topo, upstream).checkpoint()  # rewind reads the timeline from there
    try:
        server.rewind_from(source, "replicator")
    except PostgresLabError:
        server.rebuild_from(source, "replicator")
    # A rewound standby is consistent only once it replays a record past the upstream's
    # insert position at the rewind. The service is stopped, and archive_timeout often
    # leaves that position just after a segment switch: an idle upstream would then
    # write nothing more and the standby would never become ready.
    lab.postgres(topo, upstream).write_wal_marker("dr lab: standby rebuilt")
    server.start()


def _stop_old_primary(server: PostgresServer) -> None:
    """An old primary that booted again, stopped cleanly so that rewind may run. Its
    shutdown can hang past pg_ctl's wait: the archiver first pushes the WAL the boot
    wrote, and pgBackRest's asynchronous push waits up to its archive-timeout for a
    repository that may refuse a segment of a timeline the new primary left. Rewinding
    after an immediate stop still works (pg_rewind runs crash recovery first)."""
    try:
        server.stop("fast")
    except PostgresError:
        server.stop("immediate")


def _wait_streaming(upstream: PostgresServer, standby: str) -> None:
    def streaming() -> bool:
        return any(
            r.application_name == standby and r.state == "streaming"
            for r in upstream.replication_status()
        )

    if not wait_until(streaming, timeout=CATCH_UP_TIMEOUT_S, interval=0.05):
        raise LabError(f"{standby} did not start streaming within {CATCH_UP_TIMEOUT_S:.0f}s")


def _wait_caught_up(standby: PostgresServer) -> None:
    def caught_up() -> bool:
        status = standby.standby_status()
        return status.receive_lsn is not None and status.receive_lsn == status.replay_lsn

    if not wait_until(caught_up, timeout=CATCH_UP_TIMEOUT_S, interval=0.1):
        raise LabError(f"{standby.name} did not catch up within {CATCH_UP_TIMEOUT_S:.0f}s")


def _serve_from(lab: Lab, topo: LabTopology, host: str) -> None:
    # PostgreSQL 15 after crash recovery (a host powered back on): the checkpointer
    # takes the end-of-recovery checkpoint while recovery still counts as in progress,
    # then sleeps a whole checkpoint_timeout without looking at archive_timeout, so no
    # segment is closed (and archived) for up to 5 minutes. A checkpoint request now
    # wakes it, and from then on it keeps archive_timeout. (Promotion is not affected.)
    lab.postgres(topo, host).checkpoint()
    topology.add_vip(topo, host)
    lab.start_credit_service(host)
    _wait_healthy(f"http://{topo.mgmt_address(host)}:{topo.service_port}/health")
