"""What restore-database will touch, for `dr plan`: pgBackRest on this machine (the
exact `restore` arguments for the requested point, its restore_command naming where
the secrets are read from, never their values), and the target host's control commands.
A point the parameters cannot name (`-p to=yesterday`) is a problem of the plan."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from backups.pgbackrest.restore import build_restore
from backups.pitr.point import requested_point
from backups.pitr.settings import restore_command
from orchestrator.inventory import PitrBackupSet
from orchestrator.inventory.systems import RecoverDatabase, RecoverManual, RecoverService
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _dual_host_plan as dual_plan
from runbooks._pitr_restore import point_words

if TYPE_CHECKING:
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Host, HostPair
    from orchestrator.runbook import Runbook

PROGRAM = "pgbackrest"


def _chosen(plan: PlanContext) -> tuple[HostPair, PitrBackupSet, Host] | None:
    pairs = plan.inventory.host_pairs
    wanted = str(plan.params.get("pair") or "")
    pair = next((p for p in pairs if p.name == wanted or not wanted), None)
    if pair is None:
        return None
    name = str(plan.params.get("set") or "")
    sets = [s for s in plan.inventory.pitr_sets if s.host_pair == pair.name]
    bset = next((s for s in plan.inventory.pitr_sets if s.name == name), None) if name else None
    if bset is None and len(sets) != 1:
        plan.problem(
            f"host pair {pair.name} has {len(sets)} postgres-pitr sets; name one with -p set=NAME",
            "backup_sets",
        )
        return None
    target = plan.inventory.host(str(plan.params.get("target") or "") or pair.standby)
    return pair, bset or sets[0], target


def _base(bset: PitrBackupSet) -> list[str]:
    return [PROGRAM, f"--config={bset.config_path}", f"--stanza={bset.stanza}"]


def plan_restore(plan: PlanContext) -> None:
    chosen = _chosen(plan)
    if chosen is None:
        return
    _, bset, target = chosen
    if bset.cluster_on(target.name) is None:
        plan.need(bset, "clusters", f"backup set {bset.name} lists no cluster on {target.name}")
    plan.local(
        shlex.join([*_base(bset), "info", "--output=json"]),
        note=Text("各备份库可恢复的时间窗口", "each repository's window"),
    )


def stop_target(plan: PlanContext) -> None:
    chosen = _chosen(plan)
    if chosen is not None:
        pair, _, target = chosen
        plan.ssh(
            target,
            pair_ops.control(pair, "service_stop", target),
            pair_ops.control(pair, "db_stop", target),
        )


def restore(plan: PlanContext) -> None:
    chosen = _chosen(plan)
    if chosen is not None:
        _restore_onto(plan, chosen[1], chosen[2])


def _restore_onto(plan: PlanContext, bset: PitrBackupSet, target: Host) -> None:
    cluster = bset.cluster_on(target.name)
    if cluster is None:
        return  # plan_restore said so
    point = requested_point(
        plan.params.get("to"),
        plan.params.get("before_xid"),
        plan.params.get("before_lsn"),
        plan.inventory.timezone,
    )
    repository = str(plan.params.get("repository") or "auto")
    args = build_restore(
        point.target,
        repository=int(repository) if repository.isdigit() else None,
        pg_path=str(cluster.path),
        delta=True,
        restore_command=restore_command(plan.inventory, bset, PROGRAM, str(cluster.path)),
    )
    to = point_words(point)
    zh = f"恢复到 {target.name} 的数据目录，恢复至 {to.zh}"
    en = f"onto {target.name}'s data directory, to {to.en}"
    if not repository.isdigit():
        zh += "；--repo= 取时间窗口覆盖该点的第一个备份库"
        en += "; --repo= the first repository whose window reaches it"
    plan.local(shlex.join([*_base(bset), *args]), note=Text(zh, en))


def start_database(plan: PlanContext) -> None:
    chosen = _chosen(plan)
    if chosen is not None:
        pair, _, target = chosen
        plan.ssh(target, pair_ops.control(pair, "db_start", target))
        plan.ssh(target, pair_ops.control(pair, "db_status", target), changes=False)


def verify_data(plan: PlanContext) -> None:
    chosen = _chosen(plan)
    if chosen is None:
        return
    pair, _, target = chosen
    if pair.database is None:
        plan.need(pair, "database", "the data check connects to the restored database")
        return
    db = pair.database
    plan.local(
        f"SQL (read) {db.user}@{target.address}:{db.port}/{db.name}: newest commit, row counts",
        note=Text(
            f"密码取自 {db.password}" if db.password else "无密码",
            "password from " + (str(db.password) if db.password else "none"),
        ),
    )


def move_service(plan: PlanContext) -> None:
    chosen = _chosen(plan)
    if chosen is None:
        return
    pair, _, target = chosen
    for name in (pair.primary, pair.standby):
        if name != target.name:
            other = plan.inventory.host(name)
            plan.ssh(
                other,
                pair_ops.control(pair, "service_stop", other),
                pair_ops.release_vip_command(pair),
                note=Text("仅在其仍有应答时", "where it still answers"),
            )
    plan.ssh(
        target,
        pair_ops.take_vip_command(pair),
        pair_ops.control(pair, "service_start", target),
    )


def restore_copy(plan: PlanContext) -> None:
    """logical-error's copy beside the live database: on `-p copy_on=`, else the first host
    outside the pair where the set has a cluster, a backup-room host first (the step's
    own choice, runbooks/logical_error.py `copy_host`)."""
    chosen = _chosen(plan)
    if chosen is None:
        return
    pair, bset, _ = chosen
    named = str(plan.params.get("copy_on") or "")
    outside = [
        plan.inventory.host(c.host)
        for c in bset.clusters
        if c.host not in (pair.primary, pair.standby)
    ]
    at_backup = [h for h in outside if plan.inventory.site(h.site).kind == "backup"]
    hosts = [plan.inventory.host(named)] if named else at_backup or outside
    if not hosts:
        # Not a problem of the plan: `-p copy_on=HOST` may name one at run time; without
        # it, the plan-copy step says what to add.
        return
    host = hosts[0]
    stop = [pair_ops.control(pair, "service_stop", host), pair_ops.control(pair, "db_stop", host)]
    plan.ssh(
        host,
        *stop,
        note=Text(
            "副本所在主机，绝不是网点使用的主机", "the copy's host, never one the branches use"
        ),
    )
    _restore_onto(plan, bset, host)
    plan.ssh(
        host,
        pair_ops.control(pair, "db_start", host),
        note=Text("在恢复点提升", "promoted at the point"),
    )


def recover_systems(plan: PlanContext) -> None:
    """site-loss's recovery at the backup room, system by system in the inventory's order:
    on `-p target=`, else the first host at a backup site with a cluster of a
    postgres-pitr set (runbooks/site_loss.py `target_host`)."""
    named = str(plan.params.get("target") or "")
    pair = next(iter(plan.inventory.host_pairs), None)
    serving = (pair.primary, pair.standby) if pair is not None else ()
    found = [
        plan.inventory.host(c.host)
        for s in plan.inventory.pitr_sets
        for c in s.clusters
        if c.host not in serving
        and plan.inventory.site(plan.inventory.host(c.host).site).kind == "backup"
    ]
    hosts = [plan.inventory.host(named)] if named else found
    if not hosts:
        return  # site-loss's plan-recovery step says what to add
    host = hosts[0]
    for system in plan.inventory.systems_in_recovery_order():
        recover = system.recover
        if isinstance(recover, RecoverDatabase):
            bset = plan.inventory.any_backup_set(recover.database)
            if isinstance(bset, PitrBackupSet):
                owner = plan.inventory.pair(bset.host_pair)
                stop = [pair_ops.control(owner, a, host) for a in ("service_stop", "db_stop")]
                plan.ssh(host, *stop, note=_system(system.name))
                _restore_onto(plan, bset, host)
                plan.ssh(host, pair_ops.control(owner, "db_start", host))
        elif isinstance(recover, RecoverService):
            owner = plan.inventory.pair(recover.service)
            start = [
                pair_ops.take_vip_command(owner),
                pair_ops.control(owner, "service_start", host),
            ]
            plan.ssh(host, *start, note=_system(system.name))
        elif isinstance(recover, RecoverManual):
            plan.person(Text(recover.manual.zh, recover.manual.en), note=_system(system.name))
        else:
            plan.local(
                f"restic restore of {recover.files}'s newest good run under {recover.into} "
                f"on {host.name}",
                note=_system(system.name),
            )


_HOOKS: dict[str, Callable[[PlanContext], None]] = {
    "plan-restore": plan_restore,
    "stop-target": stop_target,
    "restore": restore,
    "start-database": start_database,
    "verify-data": verify_data,
    "move-service": move_service,
    "verify-end-to-end": dual_plan.end_to_end,
}


def attach(runbook: Runbook) -> None:
    """Give restore-database's steps their plan hooks, by step id."""
    runbook.plan_by_id(_HOOKS)


def _system(name: str) -> Text:
    return Text(f"系统 {name}", f"system {name}")
