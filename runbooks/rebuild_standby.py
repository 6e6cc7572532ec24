"""Rebuild the standby (重建备库): make the pair's other host a streaming standby again.

After a switchover or a cutover the old primary is stopped (or, back from a power cut,
running as a stray primary nobody writes to). This stops it, then `pg_rewind`s it onto
the current primary's timeline: only the blocks that differ are copied, far less than
the whole cluster. When rewind cannot work (the old cluster is missing or damaged, the
WAL it needs is gone, the histories do not share a checkpoint) it falls back to a fresh
base backup, keeping the old data directory aside. Either discards the writes only the
old primary acknowledged: before that they are listed by branch for re-entry
(runbooks/_lost_transactions.py, `dr report lost-transactions RUN`). The standby then
starts and must be seen streaming by the primary: only then is the pair protected again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.errors import StepFailed
from orchestrator.postgresql.rewind import failure_reason
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _lost_transactions as lost
from runbooks import _rebuild_plan as rebuild_plan
from runbooks._standby import (
    base_backup,
    checkpoint,
    live_roles,
    rewind,
    store_replication_password,
    streaming_replica,
)

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host

METHODS = ("rewind", "base-backup")

rb = Runbook(
    "rebuild-standby",
    title=Text(zh="重建备库（旧主库转为备库）", en="Rebuild the standby from the old primary"),
    description=Text(
        zh="停止旧主库，用 pg_rewind 追平到当前主库的时间线（失败时改用全量基础备份），"
        "以备库身份启动并确认流复制正常，双机恢复保护。",
        en="Stop the old primary, pg_rewind it onto the current primary's timeline (a full "
        "base backup when rewind fails), start it as a standby and confirm it streams: "
        "the pair is protected again.",
    ),
    params={
        **pair_ops.PAIR_PARAMS,
        "method": Param(
            "rewind",
            "rewind (falls back to base-backup when it fails) or base-backup",
            choices=("rewind", "base-backup"),
        ),
        **lost.PARAMS,
    },
)


def _needed(ctx: StepContext) -> bool:
    return bool(ctx.fact("rebuild_needed"))


def _primary(ctx: StepContext) -> Host:
    return ctx.inventory.host(ctx.fact("rebuild_primary"))


def _target(ctx: StepContext) -> Host:
    return ctx.inventory.host(ctx.fact("rebuild_target"))


@rb.check(
    "check-pair",
    timeout="60s",
    title=Text(zh="确认当前主库与待重建主机", en="Find the primary and the host to rebuild"),
)
def check_pair(ctx: StepContext) -> Verdict:
    if ctx.params["method"] not in METHODS:
        raise StepFailed(
            f"method must be one of {', '.join(METHODS)}, not {ctx.params['method']!r}"
        )
    pair = pair_ops.the_pair(ctx)
    roles = live_roles(ctx, pair)
    if roles.primary is None:
        return Verdict(
            False,
            Text(
                zh="双机中没有可跟随的可写主库：请先恢复一个主库",
                en="no writable primary in the pair to follow: recover one first",
            ),
        )
    ctx.remember("rebuild_primary", roles.primary.name)
    ctx.remember("rebuild_target", roles.other.name)
    streaming = streaming_replica(ctx, pair, roles.primary, roles.other)
    ctx.remember("rebuild_needed", streaming is None)
    primary, other = roles.primary.name, roles.other.name
    if streaming is not None:
        return Verdict(
            True,
            Text(
                zh=f"{other} 已在从 {primary} 流复制", en=f"{other} already streams from {primary}"
            ),
        )
    state = (
        Text(zh="无应答（已停止或不可达）", en="no answer (stopped or unreachable)")
        if roles.other_status is None
        else Text(zh="游离的主库", en="a stray primary")
        if roles.other_is_stray_primary
        else Text(zh="未在流复制的备库", en="a standby that is not streaming")
    )
    return Verdict(
        True,
        Text(
            zh=f"主库 {primary}；{other}：{state.zh}", en=f"primary {primary}; {other}: {state.en}"
        ),
    )


# The primary serves throughout: a rebuild touches only the other host. Marked so the
# run's RTO is this (zero) interruption, not the length of the run. When a switchover
# includes this runbook its own, earlier marks stand (the first mark wins).
rb.mark_service_lost(
    "no-outage",
    title=Text(zh="重建备库不中断业务", en="A standby rebuild does not interrupt the service"),
)
rb.mark_service_restored(
    "service-unaffected", title=Text(zh="主库持续提供服务", en="The primary keeps serving")
)


@rb.action(
    "stop-target",
    when=_needed,
    timeout="120s",
    destructive=True,
    check_first=True,
    title=Text(zh="停止待重建主机的服务与数据库", en="Stop the service and database to rebuild"),
)
def stop_target(ctx: StepContext) -> None:
    pair = pair_ops.the_pair(ctx)
    target = _target(ctx)
    if pair_ops.service_running(ctx, pair, target):
        pair_ops.stop_service(ctx, pair, target)
    if pair_ops.database_status(ctx, pair, target) is not None:
        pair_ops.stop_database(ctx, pair, target)


@stop_target.verify
def target_stopped(ctx: StepContext) -> bool:
    pair = pair_ops.the_pair(ctx)
    target = _target(ctx)
    if not pair_ops.reachable(ctx, target):
        raise StepFailed(f"{target.name} does not answer over SSH: it cannot be rebuilt now")
    return (
        pair_ops.service_running(ctx, pair, target) is False
        and pair_ops.database_status(ctx, pair, target) is None
    )


def _listing(ctx: StepContext) -> bool:
    return _needed(ctx) and lost.wanted(ctx, pair_ops.the_pair(ctx))


def _reading(ctx: StepContext) -> bool:
    """Listing, and there is an old cluster to read (open-old-timeline found one)."""
    return _listing(ctx) and not lost.cluster_missing(ctx)


@rb.action(
    "open-old-timeline",
    when=_listing,
    timeout="15m",
    check_first=True,
    title=Text(zh="以只读方式打开旧主库的时间线", en="Open the old primary's timeline read-only"),
)
def open_old_timeline(ctx: StepContext) -> dict[str, Any]:
    return lost.open_old_timeline(ctx, pair_ops.the_pair(ctx), _target(ctx))


@open_old_timeline.verify
def old_timeline_opened(ctx: StepContext) -> bool:
    return lost.old_timeline_open(ctx, pair_ops.the_pair(ctx), _target(ctx))


@rb.action(
    "list-lost-transactions",
    when=_reading,
    timeout="30m",
    title=Text(
        zh="列出旧主库独有的交易（补录清单）",
        en="List the writes only the old primary holds (re-entry list)",
    ),
)
def list_lost_transactions(ctx: StepContext) -> dict[str, Any]:
    return lost.list_lost(ctx, pair_ops.the_pair(ctx), _target(ctx), _primary(ctx))


@rb.action(
    "close-old-timeline",
    when=_reading,
    timeout="120s",
    check_first=True,
    title=Text(zh="关闭旧主库的只读副本", en="Stop the old primary's read-only copy"),
)
def close_old_timeline(ctx: StepContext) -> None:
    lost.close_old_timeline(ctx, pair_ops.the_pair(ctx), _target(ctx))


@close_old_timeline.verify
def old_timeline_closed(ctx: StepContext) -> bool:
    return pair_ops.database_status(ctx, pair_ops.the_pair(ctx), _target(ctx)) is None


@rb.action(
    "note-unlisted-writes",
    when=lambda ctx: _needed(ctx) and not lost.wanted(ctx, pair_ops.the_pair(ctx)),
    timeout="60s",
    title=Text(zh="记录未列出的交易", en="Record that the old writes go unlisted"),
)
def note_unlisted(ctx: StepContext) -> None:
    lost.skipped(ctx, pair_ops.the_pair(ctx), _target(ctx))


@rb.action(
    "checkpoint-primary",
    when=_needed,
    timeout="300s",
    title=Text(zh="主库执行检查点", en="Checkpoint the primary"),
)
def checkpoint_primary(ctx: StepContext) -> None:
    # pg_rewind reads the new primary's timeline from its control file (rewind.py).
    checkpoint(ctx, pair_ops.the_pair(ctx), _primary(ctx))


@rb.action(
    "store-replication-password",
    when=_needed,
    timeout="60s",
    title=Text(zh="下发复制口令", en="Give the standby its replication password"),
)
def store_password(ctx: StepContext) -> dict[str, str]:
    pair = pair_ops.the_pair(ctx)
    store_replication_password(ctx, pair, _target(ctx), _primary(ctx))
    return {"upstream": pair_ops.database_address(pair, _primary(ctx))}


@rb.action(
    "rewind",
    when=lambda ctx: _needed(ctx) and ctx.params["method"] == "rewind",
    timeout="30m",
    title=Text(zh="pg_rewind 追平旧主库", en="pg_rewind the old primary"),
)
def rewind_target(ctx: StepContext) -> dict[str, Any]:
    pair = pair_ops.the_pair(ctx)
    result = rewind(ctx, pair, _target(ctx), _primary(ctx))
    if result.ok:
        ctx.remember("rebuild_copy", "rewind")
        return {"rewound": True}
    reason = failure_reason(result.stdout, result.stderr)
    ctx.remember("rebuild_copy", "base-backup")
    ctx.note(
        Text(
            zh=f"pg_rewind 失败，改用全量基础备份：{reason}",
            en=f"pg_rewind failed, falling back to a full base backup: {reason}",
        )
    )
    return {"rewound": False, "reason": reason}


@rb.action(
    "base-backup",
    when=lambda ctx: (
        _needed(ctx)
        and (ctx.params["method"] == "base-backup" or ctx.fact("rebuild_copy") == "base-backup")
    ),
    timeout="30m",
    destructive=True,
    title=Text(zh="全量基础备份重建备库", en="Rebuild from a full base backup"),
)
def base_backup_target(ctx: StepContext) -> None:
    base_backup(ctx, pair_ops.the_pair(ctx), _target(ctx), _primary(ctx))


@rb.action(
    "start-standby",
    when=_needed,
    timeout="120s",
    check_first=True,
    title=Text(zh="以备库身份启动", en="Start it as a standby"),
)
def start_standby(ctx: StepContext) -> None:
    pair_ops.start_database(ctx, pair_ops.the_pair(ctx), _target(ctx))


@start_standby.verify
def standby_started(ctx: StepContext) -> bool:
    status = pair_ops.database_status(ctx, pair_ops.the_pair(ctx), _target(ctx))
    if status is not None and status.is_primary:
        # Rewind or copy did not make it a standby: never leave two primaries running.
        pair_ops.stop_database(ctx, pair_ops.the_pair(ctx), _target(ctx))
        raise StepFailed(f"{_target(ctx).name} started as a primary, not a standby; stopped it")
    return status is not None and status.in_recovery


@rb.wait_until(
    "standby-streaming",
    timeout="120s",
    interval="1s",
    title=Text(zh="确认流复制正常（双机恢复保护）", en="Confirm it streams (pair protected)"),
)
def standby_streaming(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    replica = streaming_replica(ctx, pair, _primary(ctx), _target(ctx))
    status = pair_ops.database_status(ctx, pair, _target(ctx))
    ok = replica is not None and status is not None and status.in_recovery
    primary, target = _primary(ctx).name, _target(ctx).name
    if ok and replica is not None:
        return Verdict(
            True,
            Text(
                zh=f"{target} 正在从 {primary} 流复制（已回放至 {replica.replay_lsn}）",
                en=f"{primary} streams to {target} (replayed {replica.replay_lsn})",
            ),
        )
    return Verdict(
        False,
        Text(
            zh=f"{target} 尚未从 {primary} 流复制",
            en=f"{target} is not streaming from {primary} yet",
        ),
    )


rebuild_plan.attach(rb)  # what `dr plan` and a confirmation show (_rebuild_plan.py)
