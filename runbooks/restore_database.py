"""Restore the credit database from its backups (按备份恢复数据库), to a point in time.

For when replication cannot help: both hosts of the pair are lost, or the data itself
is bad everywhere. The cluster comes back from pgBackRest's base backups and archived
WAL onto a target host (the standby, the rebuilt old primary, or a host at the backup
room), up to the point asked for:

    -p to=latest                         every archived transaction
    -p to="2026-12-03 14:32:00"          that moment (the inventory's time zone)
    -p before_xid=N / before_lsn=X/Y     just before a bad statement

1. Plan: the set, the target and its data directory, the point, and the repository
   whose recovery window reaches it (the local one first; the offsite one when the
   local one is gone). 2. Leadership approves before anything is overwritten (the
   seeds' orange/red rule). 3. Stop what runs on the target. 4. Restore (delta: only
   files that differ are written). 5. Start it: it replays WAL to the point and
   promotes. 6. Verify: it answers as a primary, the newest transaction it holds, every
   table's row count. 7. With `move_service=yes`, move the VIP and start the service
   there, and verify end to end from a branch. RTO runs from the loss of service to
   that verification; RPO is the age of the newest recovered transaction at the loss.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StepFailed, TransportError
from orchestrator.runbook import OutageWatch, Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _lost_transactions as lost
from runbooks import _pitr_restore as pitr
from runbooks import _restore_plan as restore_plan

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host

# Replaying a day of WAL on a small server can take this long.
RECOVERY_TIMEOUT_S = 4 * 3600.0

rb = Runbook(
    "restore-database",
    title=Text(
        zh="从备份恢复征信数据库（时间点恢复）",
        en="Restore the credit database from backups (PITR)",
    ),
    description=Text(
        zh="从 pgBackRest 备份库将数据库恢复到指定时间点（最新、某一时刻或某事务之前），"
        "恢复到目标主机并核验数据；可选迁移 VIP 并启动服务，从网点端到端验证；记录 RTO/RPO。"
        "覆盖数据前须领导审批。",
        en="Restore the database from the pgBackRest repositories to a point (latest, a "
        "moment, or just before a transaction) onto a target host and verify the data; "
        "optionally move the VIP, start the service and verify from a branch; records "
        "RTO and RPO. Leadership approves before anything is overwritten.",
    ),
    system="credit-report",
    outage_watch=OutageWatch("{pair}"),
    params={
        **pair_ops.PAIR_PARAMS,
        **lost.PARAMS,
        "set": Param(
            "", "the postgres-pitr backup set; empty: the pair's only one", refers_to="pitr-set"
        ),
        "target": Param(
            "", "the host to restore onto; empty: the pair's standby", refers_to="host"
        ),
        "to": Param("latest", pitr.POINT_PARAMS_HELP["to"]),
        "before_xid": Param("", pitr.POINT_PARAMS_HELP["before_xid"]),
        "before_lsn": Param("", pitr.POINT_PARAMS_HELP["before_lsn"]),
        "repository": Param("auto", "auto (the first whose window reaches the point) or 1, 2, ..."),
        "move_service": Param(
            "yes",
            "yes: move the VIP and the service to the target; no: only the data",
            choices=("yes", "no"),
        ),
    },
)


def _moving(ctx: StepContext) -> bool:
    return str(ctx.params["move_service"]).lower() in ("yes", "true", "1")


def target_host(ctx: StepContext) -> Host:
    pair = pair_ops.the_pair(ctx)
    name = str(ctx.params.get("target") or "") or pair.standby
    return ctx.inventory.host(name)


def _key(ctx: StepContext, name: str) -> str:
    return pitr.fact_key(target_host(ctx), name)


@rb.check(
    "plan-restore",
    timeout="10m",
    title=Text(
        zh="确定恢复点、目标主机与备份库", en="Choose the point, the target and the repository"
    ),
)
def plan_restore(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    bset = pitr.pitr_set(ctx, pair)
    host = target_host(ctx)
    data_dir = pitr.target_cluster_path(bset, host)
    point = pitr.the_point(ctx)
    if _moving(ctx):
        ctx.mark_service_lost(reason=f"{pair.service} restored from backups onto {host.name}")
    repository, chosen = pitr.choose_repository(ctx, bset, point)
    ctx.remember(_key(ctx, "repository"), repository)
    ctx.remember(_key(ctx, "point"), point.describe())
    window = chosen["window"]
    ctx.note(
        Text(
            zh=f"将 {bset.name} 从 repo{repository}（{chosen['location']}）恢复到 {host.name} 的 "
            f"{data_dir}，恢复点：{pitr.point_words(point).zh}；"
            f"该库可恢复区间 {window['from']} 至 {window['to']}",
            en=f"{bset.name} will be restored from repo{repository} ({chosen['location']}) "
            f"into {data_dir} on {host.name}, to {point.describe()}; that repository reaches "
            f"{window['from']} .. {window['to']}",
        )
    )
    return Verdict(
        True,
        Text(
            zh=f"repo{repository} -> {host.name}:{data_dir}，恢复点：{pitr.point_words(point).zh}",
            en=f"repo{repository} -> {host.name}:{data_dir}, {point.describe()}",
        ),
    )


rb.approval(
    "approve-overwrite",
    title=Text(
        zh="领导审批：覆盖目标主机数据", en="Leadership approves overwriting the target's data"
    ),
    instructions=Text(
        zh="恢复将停止目标主机上的数据库与服务并覆盖其数据目录（见上一步所列主机、恢复点与备份库）。"
        "确认目标主机无误、其数据已不再需要后批准。",
        en="The restore stops the database and the service on the target host and "
        "overwrites its data directory (the host, point and repository are in the step "
        "above). Approve once the target is right and its data is no longer needed.",
    ),
)


@rb.action(
    "stop-target",
    timeout="3m",
    destructive=True,
    title=Text(zh="停止目标主机上的服务与数据库", en="Stop the service and database on the target"),
)
def stop_target(ctx: StepContext) -> dict[str, Any]:
    pair = pair_ops.the_pair(ctx)
    host = target_host(ctx)
    return pitr.clear_target(ctx, pair, host)


@stop_target.verify
def target_stopped(ctx: StepContext) -> bool:
    pair = pair_ops.the_pair(ctx)
    return pair_ops.database_status(ctx, pair, target_host(ctx)) is None


@rb.action(
    "restore",
    timeout="24h",
    destructive=True,
    title=Text(zh="从备份库恢复数据目录", en="Restore the data directory from the repository"),
)
def restore(ctx: StepContext) -> dict[str, Any]:
    pair = pair_ops.the_pair(ctx)
    bset = pitr.pitr_set(ctx, pair)
    host = target_host(ctx)
    repository = int(ctx.fact(_key(ctx, "repository")))
    document = pitr.restore_onto(ctx, bset, host, pitr.the_point(ctx), repository)
    ctx.remember(_key(ctx, "restored_at"), datetime.now(UTC).isoformat())
    return document


@restore.verify
def restored(ctx: StepContext) -> bool:
    return ctx.fact(_key(ctx, "restored_at")) is not None


@rb.action(
    "start-database",
    timeout=f"{RECOVERY_TIMEOUT_S + 120:g}s",
    title=Text(
        zh="启动数据库：回放日志至恢复点并提升", en="Start it: replay WAL to the point, promote"
    ),
)
def start_database(ctx: StepContext) -> None:
    pair = pair_ops.the_pair(ctx)
    host = target_host(ctx)
    pair_ops.start_database(ctx, pair, host)
    pitr.wait_until_promoted(ctx, pair, host, RECOVERY_TIMEOUT_S)


@start_database.verify
def database_promoted(ctx: StepContext) -> bool:
    if ctx.fact(_key(ctx, "restored_at")) is None:
        return False
    status = pair_ops.database_status(ctx, pair_ops.the_pair(ctx), target_host(ctx))
    return status is not None and status.is_primary


@rb.check(
    "verify-data",
    timeout="30m",
    title=Text(zh="核验恢复的数据", en="Verify the restored data"),
)
def verify_data(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    host = target_host(ctx)
    point = pitr.the_point(ctx)
    dsn = pitr.database_dsn(ctx, pair, host)
    newest = pitr.recovered_point(dsn)
    counts = pitr.table_counts(dsn)
    ctx.record("restore.tables", {"host": host.name, "row_counts": counts}, host=host.name)
    if not counts:
        return Verdict(
            False,
            Text(
                zh=f"{host.name} 上恢复的数据库中没有任何表",
                en=f"the restored database on {host.name} has no tables",
            ),
        )
    if point.moment is not None and newest is not None and newest > point.moment:
        return Verdict(
            False,
            Text(
                zh=f"恢复的数据库含有 {newest.isoformat()} 的交易，晚于要求的恢复点"
                f"（{point.moment.isoformat()}）",
                en=f"the restored database holds a transaction of {newest.isoformat()}, after "
                f"the point asked for ({point.moment.isoformat()})",
            ),
        )
    reached = newest or point.moment
    ctx.remember(_key(ctx, "recovered_to"), None if reached is None else reached.isoformat())
    if reached is not None and _moving(ctx):
        ctx.mark_last_data_point(
            reached,
            source=Text(
                f"{host.name} 上恢复出的最新交易", f"newest transaction restored on {host.name}"
            ),
        )
    rows = sum(counts.values())
    newest_zh = reached.isoformat() if reached else "无回放（即基础备份当时的状态）"
    newest_en = reached.isoformat() if reached else "none replayed (the base backup as taken)"
    return Verdict(
        True,
        Text(
            zh=f"{host.name}：{len(counts)} 张表，{rows} 行；最新交易 {newest_zh}",
            en=f"{host.name}: {len(counts)} tables, {rows} rows; newest transaction {newest_en}",
        ),
    )


@rb.action(
    "list-lost-transactions",
    timeout="30m",
    when=lambda ctx: _moving(ctx) and lost.wanted(ctx, pair_ops.the_pair(ctx)),
    title=Text(
        zh="列出恢复点之后的交易（补录清单）",
        en="List the writes after the recovery point (re-entry list)",
    ),
)
def list_lost_transactions(ctx: StepContext) -> dict[str, Any]:
    return lost.list_after_restore(ctx, pair_ops.the_pair(ctx), target_host(ctx))


@rb.action(
    "move-service",
    timeout="3m",
    when=_moving,
    title=Text(
        zh="迁移 VIP 并在目标主机启动服务", en="Move the VIP and start the service on the target"
    ),
)
def move_service(ctx: StepContext) -> dict[str, Any]:
    pair = pair_ops.the_pair(ctx)
    host = target_host(ctx)
    released = _release_elsewhere(ctx, host)
    pair_ops.take_vip(ctx, pair, host)
    pair_ops.start_service(ctx, pair, host)
    return {"vip_on": host.name, "released_from": released}


def _release_elsewhere(ctx: StepContext, host: Host) -> list[str]:
    """The pair's other hosts that still answer give up the VIP and stop the service:
    two holders of one address is as bad as two primaries."""
    pair = pair_ops.the_pair(ctx)
    released: list[str] = []
    for name in (pair.primary, pair.standby):
        other = ctx.inventory.host(name)
        if other.name == host.name or not pair_ops.reachable(ctx, other):
            continue
        try:
            pair_ops.stop_service(ctx, pair, other)
            pair_ops.release_vip(ctx, pair, other)
        except (StepFailed, TransportError) as err:
            raise StepFailed(
                f"{other.name} answers but cannot give up the service: {err}"
            ) from None
        released.append(other.name)
    return released


@move_service.verify
def service_moved(ctx: StepContext) -> bool:
    pair = pair_ops.the_pair(ctx)
    host = target_host(ctx)
    return bool(pair_ops.holds_vip(ctx, pair, host)) and bool(
        pair_ops.service_running(ctx, pair, host)
    )


@rb.wait_until(
    "verify-end-to-end",
    timeout="2m",
    interval="1s",
    when=_moving,
    title=Text(
        zh="端到端验证服务（按清单的探测方式）",
        en="Verify the service end to end (the inventory's probe)",
    ),
)
def verify_end_to_end(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    return pair_ops.end_to_end_through_vip(ctx, pair)


rb.mark_service_restored(
    when=_moving,
    title=Text(zh="征信服务已从备份恢复", en="Credit service verified restored from backups"),
)


restore_plan.attach(rb)  # what `dr plan` shows of each step (_restore_plan.py)
