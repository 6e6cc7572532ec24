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
from runbooks import _dual_host as pair_ops
from runbooks import _dual_host_plan as dual_plan

if TYPE_CHECKING:
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Host, HostPair, PitrBackupSet
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
    plan.local(shlex.join([*_base(bset), "info", "--output=json"]), note="each repository's window")


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
    if chosen is None:
        return
    _, bset, target = chosen
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
    note = f"onto {target.name}'s data directory, to {point.describe()}"
    if not repository.isdigit():
        note += "; --repo= the first repository whose window reaches it"
    plan.local(shlex.join([*_base(bset), *args]), note=note)


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
        note="password from " + (str(db.password) if db.password else "none"),
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
                note="where it still answers",
            )
    plan.ssh(
        target,
        pair_ops.take_vip_command(pair),
        pair_ops.control(pair, "service_start", target),
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
    for step in runbook.steps:
        hook = _HOOKS.get(step.id)
        if hook is not None:
            step.plan(hook)
