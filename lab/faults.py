"""Faults the lab can inject, each with the heal that undoes it exactly.

A fault is recorded in the lab manifest while it is in force, so `dr lab status` shows
it and `dr lab heal` knows what to undo even from another process. A fault may report
what it did (a dict, kept in the manifest beside `since` and printed by `dr lab fault`):
the logical corruption's recovery points, the site loss's hidden repository.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lab import netns, processes, topology
from lab.errors import LabError
from lab.state import LabState
from lab.topology import LabTopology
from orchestrator.errors import UserInputError
from orchestrator.local_machine import process_is_running, wait_until

if TYPE_CHECKING:
    from lab.genset import GensetLab
    from lab.postgres import PostgresServer
    from lab.s3 import S3Lab
    from lab.sshd import SshServer
    from lab.ups import UpsLab


class Lab(Protocol):
    """The lab's parts as a fault reaches them. `lab.Lab` is one; a protocol here keeps
    this module from importing the module that applies its faults."""

    state: LabState

    def sshd(self, topo: LabTopology, host: str) -> SshServer: ...

    def postgres(self, topo: LabTopology, host: str) -> PostgresServer: ...

    def ups(self) -> UpsLab: ...

    def genset(self) -> GensetLab: ...

    def s3(self) -> S3Lab: ...

    def forget_processes_in(self, namespace: str) -> None: ...

    def data_dir(self, host: str) -> Path: ...

    def credit_dsn(self, topo: LabTopology, host: str, via: str = "mgmt") -> str: ...


# What an inject or heal reports, if anything (see the module's docstring).
Action = Callable[[Lab, LabTopology, list[str]], dict[str, Any] | None]
_POWER_CUT_ROUNDS = 10
_REAP_WAIT_S = 5.0


@dataclass(frozen=True)
class Fault:
    name: str
    usage: str
    summary: str
    inject: Action
    heal: Action

    def key(self, args: list[str]) -> str:
        return " ".join([self.name, *args])


def _branch(topo: LabTopology, args: list[str], usage: str) -> tuple[int, str]:
    if len(args) != 2 or args[1] not in ("primary", "standby"):
        raise UserInputError(f"usage: dr lab fault {usage}")
    name = args[0]
    number = name.removeprefix("branch-")
    if not number.isdigit() or not 1 <= int(number) <= topo.branches:
        raise UserInputError(
            f"{name!r} is not a branch of this lab (branch-1..branch-{topo.branches})"
        )
    return int(number), args[1]


def _one_of(args: list[str], allowed: list[str], usage: str) -> str:
    if len(args) != 1 or args[0] not in allowed:
        raise UserInputError(f"usage: dr lab fault {usage} (one of: {', '.join(allowed)})")
    return args[0]


# ---- network ---------------------------------------------------------------------------


def _line(up: bool) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        number, kind = _branch(topo, args, "line-cut BRANCH primary|standby")
        namespace, port = topology.line_port(topo, number, kind)  # type: ignore[arg-type]
        netns.set_link(namespace, port, up)

    return act


def _switch(up: bool) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        name = _one_of(args, ["sw-funds", "sw-nonfunds", "sw-spare"], "switch-down NAME")
        namespace = topo.namespace(name)
        # A dead switch: no management, no forwarding on any port.
        for link in netns.list_links(namespace):
            if link != "lo":
                netns.set_link(namespace, link, up)
        server = lab.sshd(topo, name)
        server.start() if up else server.stop()

    return act


def _host_down(lab: Lab, topo: LabTopology, args: list[str]) -> None:
    host = _one_of(args, ["dc-a", "dc-b", "backup"], "host-down HOST")
    namespace = topo.namespace(host)
    # Power off: every process of the host dies at once, then its links go dark.
    _power_cut(namespace)
    lab.forget_processes_in(namespace)
    for link in netns.list_links(namespace):
        if link != "lo":
            netns.set_link(namespace, link, False)
    # An address added at run time does not survive a power cycle: a host that boots
    # again must not answer for the VIP its successor now holds.
    topology.remove_vip(topo, host)


def _power_cut(namespace: str) -> None:
    """SIGKILL, never SIGTERM: a process told to stop may start another first (a
    postmaster in shutdown starts a new archiver, which outlives it and keeps its
    shared memory, so the server cannot start again). Repeated until none is left:
    a child forked while the others were being killed is caught the next time."""
    for _ in range(_POWER_CUT_ROUNDS):
        pids = netns.namespace_pids(namespace)
        if not pids:
            return
        processes.signal_all(pids, signal.SIGKILL)
        wait_until(partial(_all_gone, pids), timeout=_REAP_WAIT_S)
    raise LabError(f"processes in {namespace} survive SIGKILL: {netns.namespace_pids(namespace)}")


def _all_gone(pids: list[int]) -> bool:
    # Reaped too, not just dead: PostgreSQL takes a zombie postmaster for a running one
    # and refuses to start over it (and this machine's PID 1 reaps orphans slowly).
    return not any(process_is_running(p) or Path(f"/proc/{p}").exists() for p in pids)


def _host_up(lab: Lab, topo: LabTopology, args: list[str]) -> None:
    host = _one_of(args, ["dc-a", "dc-b", "backup"], "host-down HOST")
    namespace = topo.namespace(host)
    for link in netns.list_links(namespace):
        netns.set_link(namespace, link, True)
    # The kernel dropped the route through lan0 when the link went down; the host's
    # boot configuration puts it back (without it, replies to the branches are lost).
    netns.add_route(namespace, topology.BRANCH_NETS, topo.lan_gateway)
    # Back from a power cycle: sshd and the database come back as configured on disk,
    # which for an old primary means *as a primary*: that is the danger fencing is for.
    lab.sshd(topo, host).start()
    server = lab.postgres(topo, host)
    if server.has_cluster:  # the backup room's host holds one only once restored into
        server.start()


def _partition(up: bool) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        host = _one_of(args, ["dc-a", "dc-b", "backup"], "partition HOST")
        # Only the management path goes: the host keeps serving the branches.
        netns.set_link(topo.namespace(host), "mgmt0", up)

    return act


# ---- data ----------------------------------------------------------------------------------


def _logical(*, heal: bool) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> dict[str, Any]:
        from lab import logical_corruption

        if heal:
            return logical_corruption.heal(lab, topo, args)
        return logical_corruption.inject(lab, topo, args)

    return act


# ---- replication ----------------------------------------------------------------------------

PAIR_HOSTS = ("dc-a", "dc-b")
PAUSE_REPLAY_SQL = "SELECT pg_wal_replay_pause()"
RESUME_REPLAY_SQL = "SELECT pg_wal_replay_resume()"


def _standbys(lab: Lab, topo: LabTopology, args: list[str], usage: str) -> list[str]:
    """The pair's hosts whose database runs as a standby now (or the one named)."""
    if len(args) > 1 or (args and args[0] not in PAIR_HOSTS):
        raise UserInputError(f"usage: dr lab fault {usage} (HOST: one of {', '.join(PAIR_HOSTS)})")
    found = []
    for host in args or list(PAIR_HOSTS):
        server = lab.postgres(topo, host)
        if server.is_running and server.standby_status().in_recovery:
            found.append(host)
    return found


LAG_USAGE = "standby-lag [HOST] [stream-cut]"
# With this word the standby stops receiving WAL too, not only replaying it.
STREAM_CUT = "stream-cut"


def _standby_lag(lab: Lab, topo: LabTopology, args: list[str]) -> dict[str, Any]:
    """The standby keeps receiving WAL but stops replaying it: its data falls behind the
    primary's by every write from now on (what a slow or stuck standby does). With
    `stream-cut` it receives nothing either (a cut replication link): a promotion then
    has only what it had, and the writes since are lost, as in a real asynchronous
    failover after a long lag (a paused standby replays all it received when promoted)."""
    cut = STREAM_CUT in args
    hosts = _standbys(lab, topo, [a for a in args if a != STREAM_CUT], LAG_USAGE)
    if not hosts:
        raise LabError("no database of the pair runs as a standby: nothing to hold back")
    for host in hosts:
        server = lab.postgres(topo, host)
        server.psql(PAUSE_REPLAY_SQL)
        if cut:
            server.stop_streaming()
    return {"replay_paused_on": hosts, **({"stream_cut_on": hosts} if cut else {})}


def _standby_catch_up(lab: Lab, topo: LabTopology, args: list[str]) -> dict[str, Any]:
    # A standby promoted meanwhile replays nothing any more: only standbys resume.
    hosts = _standbys(lab, topo, [a for a in args if a != STREAM_CUT], LAG_USAGE)
    for host in hosts:
        server = lab.postgres(topo, host)
        server.resume_streaming()
        server.psql(RESUME_REPLAY_SQL)
    # A host promoted or rebuilt since keeps no cut of ours (only its saved copy goes).
    for host in set(PAIR_HOSTS) - set(hosts):
        lab.postgres(topo, host).resume_streaming()
    return {"replay_resumed_on": hosts}


# ---- a whole site -------------------------------------------------------------------------

SITE_HOSTS = ("dc-a", "dc-b")


def _site_loss(lab: Lab, topo: LabTopology, args: list[str]) -> dict[str, Any]:
    if args:
        raise UserInputError("usage: dr lab fault site-loss (no arguments)")
    repository, aside = lab.state.dc_repo, _site_loss_dir(lab.state) / "dc-repo"
    if not repository.exists():
        raise LabError(f"the data centre's repository {repository} is missing already")
    # The power goes first, all at once: nothing on the site writes to it afterwards.
    for host in SITE_HOSTS:
        _host_down(lab, topo, [host])
    aside.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.rmtree(aside, ignore_errors=True)
    repository.rename(aside)
    return {"powered_off": list(SITE_HOSTS), "repository": str(repository), "kept_at": str(aside)}


def _site_back(lab: Lab, topo: LabTopology, args: list[str]) -> dict[str, Any]:
    repository, aside = lab.state.dc_repo, _site_loss_dir(lab.state) / "dc-repo"
    report: dict[str, Any] = {"repository": str(repository)}
    if aside.exists():
        if repository.exists():
            # Made anew while the site was lost: kept, not merged into the old one.
            newer = _site_loss_dir(lab.state) / "dc-repo.made-during-the-loss"
            shutil.rmtree(newer, ignore_errors=True)
            repository.rename(newer)
            report["kept_aside"] = str(newer)
        aside.rename(repository)
    for host in SITE_HOSTS:
        _host_up(lab, topo, [host])
    report["powered_on"] = list(SITE_HOSTS)
    return report


def _site_loss_dir(state: LabState) -> Path:
    return state.root / "faults" / "site-loss"


# ---- power and storage -------------------------------------------------------------------


def _ups_mode(mode: str) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        lab.ups().set_mode(mode)

    return act


def _genset_fault(fault: str | None) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        lab.genset().set_fault(fault)

    return act


def _s3(up: bool) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        s3 = lab.s3()
        s3.up() if up else s3.down()

    return act


def _corrupt(heal: bool) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        from lab import storage_faults

        if len(args) != 1:
            raise UserInputError(
                "usage: dr lab fault corrupt-backup REPO (a local restic repository path)"
            )
        repo = Path(args[0])
        if heal:
            storage_faults.restore_pack(repo)
        else:
            storage_faults.corrupt_pack(repo)

    return act


def _disk(heal: bool) -> Action:
    def act(lab: Lab, topo: LabTopology, args: list[str]) -> None:
        from lab import storage_faults

        host = _one_of(args, ["dc-a", "dc-b", "backup"], "disk-full HOST")
        if heal:
            storage_faults.free_disk(lab.data_dir(host))
        else:
            storage_faults.fill_disk(lab.data_dir(host))

    return act


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "line-cut",
            "line-cut BRANCH primary|standby",
            "cut a branch's line",
            _line(False),
            _line(True),
        ),
        Fault(
            "switch-down",
            "switch-down sw-funds|sw-nonfunds|sw-spare",
            "a switch dies (all ports, management)",
            _switch(False),
            _switch(True),
        ),
        Fault(
            "host-down",
            "host-down dc-a|dc-b|backup",
            "a host loses power: every process dies, links go dark",
            _host_down,
            _host_up,
        ),
        Fault(
            "partition",
            "partition dc-a|dc-b|backup",
            "the host keeps serving but the orchestrator cannot reach it",
            _partition(False),
            _partition(True),
        ),
        Fault(
            "power-outage",
            "power-outage",
            "mains fails: the UPS runs on battery",
            _ups_mode("outage"),
            _ups_mode("mains"),
        ),
        Fault(
            "ups-fault",
            "ups-fault",
            "the UPS reports an internal fault",
            _ups_mode("fault"),
            _ups_mode("mains"),
        ),
        Fault(
            "generator-no-start",
            "generator-no-start",
            "the generator will not start",
            _genset_fault("no-start"),
            _genset_fault(None),
        ),
        Fault("s3-down", "s3-down", "the S3 endpoint stops answering", _s3(False), _s3(True)),
        Fault(
            "corrupt-backup",
            "corrupt-backup REPO",
            "flip bytes in a stored restic pack",
            _corrupt(False),
            _corrupt(True),
        ),
        Fault(
            "disk-full", "disk-full HOST", "the host's data disk is full", _disk(False), _disk(True)
        ),
        Fault(
            "logical-corruption",
            "logical-corruption",
            "a destructive DELETE through the credit service's account, replicated",
            _logical(heal=False),
            _logical(heal=True),
        ),
        Fault(
            "standby-lag",
            "standby-lag [dc-a|dc-b] [stream-cut]",
            "the standby stops replaying WAL (pg_wal_replay_pause): it falls behind the "
            "primary with every write; with stream-cut it stops receiving WAL too; heal "
            "resumes both",
            _standby_lag,
            _standby_catch_up,
        ),
        Fault(
            "site-loss",
            "site-loss",
            "the data centre is lost: dc-a and dc-b powered off, its repository gone",
            _site_loss,
            _site_back,
        ),
    )
}


def lookup(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise UserInputError(f"no lab fault {name!r}; faults: {', '.join(FAULTS)}") from None


def require_lab(ready: bool) -> None:
    if not ready:
        raise LabError("the lab is not up; run `dr lab up` first")
