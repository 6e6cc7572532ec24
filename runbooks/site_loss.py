"""The data centre is lost (机房整体失效): both hosts of the pair, and the repository
that lived beside them. Recover at the backup room, in the recovery order of the systems.

1. Confirm: neither host of the pair answers (SSH, database, the service from the
   branches). Anything still alive there means this is the wrong runbook.
2. Declare equipment red (primary and standby hosts both down), and leadership
   approves moving production to the backup room.
3. Recover each system of the inventory's `systems:` in recovery order (priority
   groups, then dependencies): a database from its pgBackRest set onto the backup room's
   host, from whichever repository survives (the offsite one when the local one went
   with the site); a service started there with the VIP; what only a person can do is
   listed, and the run waits for their confirmation.
4. Verify end to end from a branch. RTO runs from the confirmation of the loss; RPO is
   the age of the newest recovered transaction at that moment, which archive_timeout
   bounds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backups.actions.restore_files import restore_newest_files
from backups.context import BackupContext
from orchestrator.errors import DrError, StepFailed
from orchestrator.inventory import PitrBackupSet
from orchestrator.inventory.systems import RecoverDatabase, RecoverManual, RecoverService, System
from orchestrator.runbook import OutageWatch, Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _pitr_restore as pitr
from runbooks import _restore_plan as restore_plan

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair

RECOVERY_TIMEOUT_S = 4 * 3600.0

rb = Runbook(
    "site-loss",
    title=Text(zh="机房整体失效：在灾备机房恢复", en="Site loss: recover at the backup room"),
    description=Text(
        zh="主备机房主机均失效（设备红色）：经领导审批后，按系统恢复顺序在灾备机房从幸存的"
        "备份库（本地库随机房丢失时用异地库）恢复数据库、启动服务并迁移 VIP，从网点端到端验证；"
        "记录 RTO/RPO。",
        en="Both hosts of the pair are lost (equipment red): once leadership approves, "
        "recover at the backup room in the systems' recovery order, from the surviving "
        "repository (the offsite one when the local one went with the site), start the "
        "service there with the VIP and verify from a branch; records RTO and RPO.",
    ),
    system="credit-report",
    outage_watch=OutageWatch("{pair}"),
    params={
        **pair_ops.PAIR_PARAMS,
        "target": Param(
            "",
            "the backup room's host; empty: the first backup-site host of the set",
            refers_to="host",
        ),
        "repository": Param("auto", "auto (the surviving repository with the newest WAL) or 1, 2"),
    },
)

_ORDER = "site_loss:order"
_MANUAL = "site_loss:manual"


def _done_key(system: str) -> str:
    return f"site_loss:recovered:{system}"


def target_host(ctx: StepContext) -> Host:
    named = str(ctx.params.get("target") or "")
    if named:
        return ctx.inventory.host(named)
    pair = pair_ops.the_pair(ctx)
    for bset in ctx.inventory.pitr_sets:
        for cluster in bset.clusters:
            host = ctx.inventory.host(cluster.host)
            if host.name not in (pair.primary, pair.standby) and (
                ctx.inventory.site(host.site).kind == "backup"
            ):
                return host
    raise StepFailed(
        "no host at a backup site has a cluster of a postgres-pitr set: add the backup "
        "room's host to the set's clusters:, or -p target=HOST"
    )


@rb.check(
    "confirm-site-lost",
    timeout="3m",
    title=Text(zh="确认主备主机均已失效", en="Confirm both hosts of the pair are lost"),
)
def confirm_site_lost(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    alive: list[str] = []
    for name in (pair.primary, pair.standby):
        host = ctx.inventory.host(name)
        if pair_ops.reachable(ctx, host) or pair_ops.database_status(ctx, pair, host):
            alive.append(name)
    serving = [v.branch for v in pair_ops.branch_views(ctx, pair) if v.serving]
    if alive or serving:
        seen = ", ".join(alive + [f"service seen by {b}" for b in serving])
        seen_zh = "，".join(alive + [f"{b} 仍能访问服务" for b in serving])
        return Verdict(
            False,
            Text(
                zh=f"机房并未整体失效（{seen_zh}）：请用 dual-host-cutover 或 restore-database",
                en=f"the site is not lost ({seen}): use dual-host-cutover or restore-database",
            ),
        )
    # The site was lost before anyone started this runbook: its start is the latest the
    # loss can have happened (a linked incident's outage start, if earlier, wins).
    ctx.mark_service_lost(
        at=ctx.run_started_at,
        reason=f"site loss: {pair.primary} and {pair.standby} are down",
    )
    ctx.set_alert_level(
        "red",
        "equipment",
        Text(
            zh=f"主备主机 {pair.primary}、{pair.standby} 均失效，{pair.service} 在灾备机房恢复",
            en=f"primary and standby hosts {pair.primary} and {pair.standby} are both down; "
            f"{pair.service} is recovered at the backup room",
        ),
    )
    ctx.remember("site_lost_at", datetime.now(UTC).isoformat())
    return Verdict(
        True,
        Text(
            zh=f"{pair.primary} 与 {pair.standby} 均无应答；没有网点能访问服务",
            en=f"{pair.primary} and {pair.standby} do not answer; no branch is served",
        ),
    )


@rb.check(
    "plan-recovery",
    timeout="10m",
    title=Text(zh="按系统恢复顺序制定恢复计划", en="Plan the recovery in the systems' order"),
)
def plan_recovery(ctx: StepContext) -> Verdict:
    host = target_host(ctx)
    systems = ctx.inventory.systems_in_recovery_order()
    if not systems:
        return Verdict(
            False,
            Text(
                zh="清单中没有列出任何系统（systems：恢复什么、按什么顺序）：请补上",
                en="the inventory lists no systems: (what to recover, in which order); add them",
            ),
        )
    plan: list[dict[str, Any]] = []
    for system in systems:
        plan.append(
            {"system": system.name, "priority": system.priority, **_planned(ctx, system, host)}
        )
    ctx.remember(_ORDER, plan)
    manual = [s for s in systems if isinstance(s.recover, RecoverManual)]
    ctx.remember(_MANUAL, [s.name for s in manual])
    steps = " -> ".join(f"{p['system']} ({p['how']})" for p in plan)
    steps_zh = " -> ".join(f"{p['system']}（{p['how_zh']}）" for p in plan)
    ctx.note(
        Text(
            zh=f"在 {host.name} 的恢复顺序：{steps_zh}",
            en=f"Recovery order on {host.name}: {steps}",
        )
    )
    for system in manual:
        assert isinstance(system.recover, RecoverManual)
        ctx.note(
            Text(
                zh=f"人工步骤 {system.name}：{system.recover.manual.zh}",
                en=f"Manual step {system.name}: {system.recover.manual.en}",
            )
        )
    return Verdict(True, Text(zh=f"恢复顺序：{steps_zh}", en=steps))


def _planned(ctx: StepContext, system: System, host: Host) -> dict[str, Any]:
    """How a system comes back: `how` in English (as the plan has always been kept),
    `how_zh` in Chinese."""
    how = _how(ctx, system, host)
    return {"how": how.en, "how_zh": how.zh}


def _how(ctx: StepContext, system: System, host: Host) -> Text:
    recover = system.recover
    if isinstance(recover, RecoverDatabase):
        bset = _database_set(ctx, recover)
        pitr.target_cluster_path(bset, host)
        repository, chosen = pitr.choose_repository(ctx, bset, pitr.the_point(ctx))
        ctx.remember(pitr.fact_key(host, "repository"), repository)
        where = f"repo{repository}"
        return Text(
            zh=f"从 {where}（{chosen['location']}）恢复 {bset.name}",
            en=f"restore {bset.name} from {where} ({chosen['location']})",
        )
    if isinstance(recover, RecoverService):
        service = ctx.inventory.pair(recover.service).service
        return Text(zh=f"接管 VIP 并启动 {service}", en=f"start {service} with the VIP")
    if isinstance(recover, RecoverManual):
        return Text(zh="人工恢复", en="by hand")
    return Text(
        zh=f"将 {recover.files} 的文件恢复到 {recover.into}",
        en=f"restore the files of {recover.files} under {recover.into}",
    )


def _database_set(ctx: StepContext, recover: RecoverDatabase) -> PitrBackupSet:
    found = ctx.inventory.any_backup_set(recover.database)
    if not isinstance(found, PitrBackupSet):
        raise StepFailed(f"system database {recover.database!r} is not a postgres-pitr set")
    return found


rb.approval(
    "approve-move",
    title=Text(
        zh="领导审批：生产切换至灾备机房",
        en="Leadership approves moving production to the backup room",
    ),
    instructions=Text(
        zh="主备机房主机均失效。批准后将在灾备机房从备份恢复数据库并启动服务（恢复顺序与备份库见上一步）；"
        "机房恢复后需另行回切。",
        en="Both hosts of the pair are lost. Once approved, the database is restored from "
        "backups at the backup room and the service started there (the order and the "
        "repository are in the step above); moving back is a later, separate procedure.",
    ),
)


@rb.action(
    "recover-systems",
    timeout=f"{RECOVERY_TIMEOUT_S * 2:g}s",
    destructive=True,
    title=Text(zh="按顺序恢复各系统", en="Recover the systems in order"),
)
def recover_systems(ctx: StepContext) -> dict[str, Any]:
    host = target_host(ctx)
    results: dict[str, Any] = {}
    for system in ctx.inventory.systems_in_recovery_order():
        if ctx.fact(_done_key(system.name)):
            results[system.name] = Text(zh="此前已恢复", en="already recovered").to_dict()
            continue
        results[system.name] = _recover(ctx, system, host)
        ctx.remember(_done_key(system.name), True)
    return results


def _recover(ctx: StepContext, system: System, host: Host) -> Any:
    recover = system.recover
    if isinstance(recover, RecoverDatabase):
        return _recover_database(ctx, _database_set(ctx, recover), host)
    if isinstance(recover, RecoverService):
        pair = ctx.inventory.pair(recover.service)
        pair_ops.take_vip(ctx, pair, host)
        pair_ops.start_service(ctx, pair, host)
        return {"service": pair.service, "on": host.name, "vip": str(pair.vip)}
    if isinstance(recover, RecoverManual):
        return Text(
            zh="由人工完成（在下一步确认）", en="left to a person (confirmed in the next step)"
        ).to_dict()
    try:
        return restore_newest_files(
            BackupContext.for_set(ctx.inventory, recover.files), Path(recover.into)
        )
    except DrError as err:
        raise StepFailed(f"system {system.name}: {err.message}") from None


def _recover_database(ctx: StepContext, bset: PitrBackupSet, host: Host) -> dict[str, Any]:
    pair: HostPair = ctx.inventory.pair(bset.host_pair)
    pitr.clear_target(ctx, pair, host)
    repository = int(ctx.fact(pitr.fact_key(host, "repository")))
    # The restored cluster becomes the one production writes to: it archives again.
    document = pitr.restore_onto(
        ctx, bset, host, pitr.the_point(ctx), repository, archive_mode="preserve"
    )
    pair_ops.start_database(ctx, pair, host)
    pitr.wait_until_promoted(ctx, pair, host, RECOVERY_TIMEOUT_S)
    newest = pitr.recovered_point(pitr.database_dsn(ctx, pair, host))
    if newest is not None:
        ctx.mark_last_data_point(
            newest,
            source=Text(
                f"{host.name} 上恢复出的最新交易", f"newest transaction restored on {host.name}"
            ),
        )
        ctx.remember(f"site_loss:recovered_to:{bset.name}", newest.isoformat())
    return {**document, "recovered_to": None if newest is None else newest.isoformat()}


recover_systems.plan(restore_plan.recover_systems)  # what `dr plan` and its confirmation show


@recover_systems.verify
def systems_recovered(ctx: StepContext) -> bool:
    return all(ctx.fact(_done_key(s.name)) for s in ctx.inventory.systems_in_recovery_order())


rb.manual(
    "manual-systems",
    when=lambda ctx: bool(ctx.fact(_MANUAL)),
    title=Text(zh="完成人工恢复的系统", en="Recover the manual systems"),
    instructions=Text(
        zh="按“制定恢复计划”一步列出的人工步骤，在灾备机房恢复这些系统，完成后确认。",
        en="Recover these systems at the backup room by the manual steps listed in the "
        "plan step, then confirm.",
    ),
)


@rb.wait_until(
    "verify-end-to-end",
    timeout="2m",
    interval="1s",
    title=Text(
        zh="端到端验证服务（按清单的探测方式）",
        en="Verify the service end to end (the inventory's probe)",
    ),
)
def verify_end_to_end(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    return pair_ops.end_to_end_through_vip(ctx, pair)


rb.mark_service_restored(
    title=Text(
        zh="征信服务已在灾备机房恢复", en="Credit service verified restored at the backup room"
    )
)
