"""Planned dual-host switchover (双机计划内切换): for maintenance and drills, with no data loss.

Both hosts are healthy, so nothing is guessed: writes stop (the service on the old
primary stops), the old primary shuts down cleanly (its last WAL record is the shutdown
checkpoint, and a clean stop sends every record to the standby first), the standby is
checked to have replayed past that checkpoint, and only then is it promoted. The VIP
follows, the service starts on the new primary and a branch reads and writes through
the VIP. RPO is 0 because the standby provably holds all the WAL the old primary ever
wrote; if it does not, the switchover stops before promoting and rolls back.

Afterwards `rebuild-standby` turns the old primary into the new standby (on by
default: `-p rebuild=false` leaves it stopped for maintenance).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StepFailed
from orchestrator.postgresql.errors import UnreadableOutput
from orchestrator.postgresql.status import wal_position
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _dual_host_plan as dual_plan
from runbooks._standby import control_data, host_of, live_roles, streaming_replica

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host

rb = Runbook(
    "dual-host-switchover",
    title=Text(zh="双机计划内切换（主备角色互换）", en="Planned dual-host switchover"),
    description=Text(
        zh="停止写入，旧主库正常关闭，确认备库已重放全部日志（RPO=0）后提升备库、迁移VIP、"
        "在新主机启动服务并从网点验证读写；随后把旧主库重建为新备库。",
        en="Stop writes, shut the old primary down cleanly, confirm the standby replayed all "
        "of its WAL (RPO 0), then promote it, move the VIP, start the service there and "
        "verify a read and a write from a branch; then rebuild the old primary as standby.",
    ),
    system="credit-report",
    params={
        **pair_ops.PAIR_PARAMS,
        "to": Param(
            "",
            "the host that becomes primary: empty for the current standby, 'primary' / "
            "'standby' for the pair's declared roles, or a host name",
        ),
        "rebuild": Param(True, "turn the old primary into the new standby afterwards"),
        "method": Param(
            "rewind",
            "how to rebuild it: rewind or base-backup",
            choices=("rewind", "base-backup"),
        ),
    },
    on_failure="rollback",
)


def _needed(ctx: StepContext) -> bool:
    return bool(ctx.fact("switchover_needed"))


def _old(ctx: StepContext) -> Host:
    return ctx.inventory.host(ctx.fact("switchover_from"))


def _new(ctx: StepContext) -> Host:
    return ctx.inventory.host(ctx.fact("switchover_to"))


@rb.check(
    "check-pair",
    timeout="60s",
    title=Text(zh="确认双机状态与切换方向", en="Check the pair and the direction"),
)
def check_pair(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    roles = live_roles(ctx, pair)
    if roles.primary is None:
        return Verdict(
            False,
            Text(
                zh="双机中没有可写主库：这是故障切换（dual-host-cutover），不是计划内切换",
                en="no writable primary in the pair: this is a cutover, not a switchover",
            ),
        )
    if roles.other_is_stray_primary:
        other = roles.other.name
        return Verdict(
            False,
            Text(
                zh=f"{other} 也在以主库身份运行：请先隔离它",
                en=f"{other} also runs as a primary: fence it first",
            ),
        )
    wanted = str(ctx.params["to"])
    target = host_of(ctx, pair, wanted) if wanted else roles.other
    ctx.remember("switchover_rebuild", bool(ctx.params["rebuild"]))
    if target.name == roles.primary.name:
        ctx.remember("switchover_needed", False)
        return Verdict(
            True,
            Text(
                zh=f"{target.name} 已是主库：无需切换",
                en=f"{target.name} is already the primary: nothing to switch",
            ),
        )
    if roles.other_status is None or not roles.other_status.in_recovery:
        return Verdict(
            False,
            Text(
                zh=f"{target.name} 上没有运行备库：计划内切换需要一个备库",
                en=f"{target.name} runs no standby: a switchover needs one",
            ),
        )
    if streaming_replica(ctx, pair, roles.primary, target) is None:
        primary = roles.primary.name
        return Verdict(
            False,
            Text(
                zh=f"{target.name} 没有从 {primary} 流复制：不要切换",
                en=f"{target.name} is not streaming from {primary}: do not switch",
            ),
        )
    ctx.remember("switchover_from", roles.primary.name)
    ctx.remember("switchover_to", target.name)
    ctx.remember("switchover_needed", True)
    primary = roles.primary.name
    return Verdict(
        True,
        Text(
            zh=f"{primary}（主库）-> {target.name}（流复制备库）",
            en=f"{primary} (primary) -> {target.name} (streaming standby)",
        ),
    )


rb.manual(
    "notify-branches",
    when=_needed,
    title=Text(zh="通知网点短暂停止业务", en="Tell the branches about the short pause"),
    instructions=Text(
        zh="通知各网点：征信系统将进行计划内主备切换，写入暂停约一分钟，完成后另行通知。",
        en="Tell every branch: the credit system switches hosts as planned; writes pause "
        "for about a minute; you will call back when it is done.",
    ),
)

rb.mark_service_lost(
    when=_needed, title=Text(zh="停止写入（计划内中断开始）", en="Writes stop (planned outage)")
)


@rb.action(
    "stop-writes",
    when=_needed,
    timeout="90s",
    destructive=True,
    title=Text(zh="停止旧主机上的服务", en="Stop the service on the old primary"),
)
def stop_writes(ctx: StepContext) -> None:
    pair_ops.stop_service(ctx, pair_ops.the_pair(ctx), _old(ctx))


@stop_writes.verify
def writes_stopped(ctx: StepContext) -> bool:
    return pair_ops.service_running(ctx, pair_ops.the_pair(ctx), _old(ctx)) is False


@stop_writes.rollback
def resume_writes(ctx: StepContext) -> None:
    pair = pair_ops.the_pair(ctx)
    status = pair_ops.database_status(ctx, pair, _old(ctx))
    # Only while the old primary still is the writable one (nothing was promoted).
    if status is not None and status.is_primary and not _promoted(ctx):
        pair_ops.start_service(ctx, pair, _old(ctx))


@rb.action(
    "stop-old-primary",
    when=_needed,
    timeout="120s",
    destructive=True,
    title=Text(zh="正常关闭旧主库（关机检查点）", en="Shut the old primary down cleanly"),
)
def stop_old_primary(ctx: StepContext) -> dict[str, Any]:
    pair = pair_ops.the_pair(ctx)
    pair_ops.stop_database(ctx, pair, _old(ctx))
    final = control_data(ctx, pair, _old(ctx))
    if final is None or not final.shut_down_cleanly:
        raise StepFailed(
            f"{_old(ctx).name} did not shut down cleanly "
            f"({final.state if final else 'no controldata'}): its last WAL is unknown"
        )
    return {"state": final.state, "shutdown_checkpoint_lsn": final.checkpoint_lsn}


@stop_old_primary.verify
def old_primary_stopped(ctx: StepContext) -> bool:
    pair = pair_ops.the_pair(ctx)
    final = control_data(ctx, pair, _old(ctx))
    return final is not None and final.shut_down_cleanly


@stop_old_primary.rollback
def restart_old_primary(ctx: StepContext) -> None:
    # Never a second primary: only while the standby has not been promoted.
    if not _promoted(ctx):
        pair_ops.start_database(ctx, pair_ops.the_pair(ctx), _old(ctx))


def _promoted(ctx: StepContext) -> bool:
    status = pair_ops.database_status(ctx, pair_ops.the_pair(ctx), _new(ctx))
    return status is not None and status.is_primary


def _caught_up(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    final = control_data(ctx, pair, _old(ctx))
    if final is None or not final.shut_down_cleanly:
        old = _old(ctx).name
        return Verdict(False, Text(zh=f"{old} 尚未正常关闭", en=f"{old} is not cleanly shut down"))
    status = pair_ops.database_status(ctx, pair, _new(ctx))
    if status is None or status.replay_lsn is None:
        new = _new(ctx).name
        return Verdict(
            False, Text(zh=f"{new} 未报告回放位置", en=f"{new} reports no replay position")
        )
    # Replayed *past* the start of the shutdown checkpoint: the record itself is in.
    try:
        done = wal_position(status.replay_lsn) > wal_position(final.checkpoint_lsn)
    except UnreadableOutput as err:
        raise StepFailed(f"cannot compare WAL positions: {err.message}") from None
    return Verdict(
        done,
        Text(
            zh=f"{_new(ctx).name} 已回放至 {status.replay_lsn}；旧主库的关机检查点位于 "
            f"{final.checkpoint_lsn}",
            en=f"{_new(ctx).name} replayed to {status.replay_lsn}; the old primary's shutdown "
            f"checkpoint is at {final.checkpoint_lsn}",
        ),
    )


@rb.wait_until(
    "standby-has-everything",
    when=_needed,
    timeout="60s",
    interval="0.5s",
    title=Text(zh="等待备库重放完旧主库全部日志", en="Wait until the standby replayed all WAL"),
)
def standby_has_everything(ctx: StepContext) -> Verdict:
    return _caught_up(ctx)


@rb.action(
    "record-data-point",
    when=_needed,
    timeout="60s",
    title=Text(zh="记录数据点（RPO）", en="Record the last data point (RPO)"),
)
def record_data_point(ctx: StepContext) -> dict[str, str]:
    verdict = _caught_up(ctx)
    if not verdict.ok:
        raise StepFailed(
            Text(
                f"备机已不再拥有全部 WAL：{verdict.sentence('zh')}",
                f"the standby no longer holds all WAL: {verdict.sentence('en')}",
            )
        )
    # Every write the old primary ever made is on the standby now: nothing before this
    # moment is lost, so the last surviving data point is now (RPO 0).
    now = datetime.now(UTC)
    source = Text(
        f"备机已回放全部 WAL：{verdict.sentence('zh')}",
        f"standby replayed all WAL: {verdict.sentence('en')}",
    )
    ctx.mark_last_data_point(now, source=source)
    return {
        "data_point": now.isoformat(),
        "detail": verdict.sentence("en"),
        "detail_zh": verdict.sentence("zh"),
    }


@rb.action(
    "promote",
    when=_needed,
    timeout="120s",
    destructive=True,
    check_first=True,
    title=Text(zh="提升备库为主库", en="Promote the standby"),
)
def promote(ctx: StepContext) -> None:
    pair_ops.promote(ctx, pair_ops.the_pair(ctx), _new(ctx))


@promote.verify
def promoted(ctx: StepContext) -> bool:
    return _promoted(ctx)


@rb.action(
    "move-vip",
    when=_needed,
    timeout="60s",
    check_first=True,
    title=Text(zh="迁移服务地址（VIP）", en="Move the service address (VIP)"),
)
def move_vip(ctx: StepContext) -> None:
    pair = pair_ops.the_pair(ctx)
    pair_ops.release_vip(ctx, pair, _old(ctx))
    pair_ops.take_vip(ctx, pair, _new(ctx))


@move_vip.verify
def vip_moved(ctx: StepContext) -> bool:
    pair = pair_ops.the_pair(ctx)
    return bool(pair_ops.holds_vip(ctx, pair, _new(ctx))) and (
        pair_ops.holds_vip(ctx, pair, _old(ctx)) is False
    )


@rb.action(
    "start-service",
    when=_needed,
    timeout="90s",
    check_first=True,
    title=Text(zh="在新主机启动服务", en="Start the service on the new primary"),
)
def start_service(ctx: StepContext) -> None:
    pair_ops.start_service(ctx, pair_ops.the_pair(ctx), _new(ctx))


@start_service.verify
def service_started(ctx: StepContext) -> bool:
    return bool(pair_ops.service_running(ctx, pair_ops.the_pair(ctx), _new(ctx)))


@rb.wait_until(
    "verify-end-to-end",
    when=_needed,
    timeout="60s",
    interval="1s",
    title=Text(
        zh="各网点端到端验证服务（按清单的探测方式）",
        en="Verify the service end to end from every branch (the inventory's probe)",
    ),
)
def verify_end_to_end(ctx: StepContext) -> Verdict:
    return pair_ops.end_to_end_through_vip(ctx, pair_ops.the_pair(ctx), every_branch=True)


rb.mark_service_restored(
    when=_needed, title=Text(zh="业务已在新主机恢复", en="Service verified on the new primary")
)

rb.include(
    "rebuild",
    "rebuild-standby",
    params={"pair": "{pair}", "method": "{method}"},
    when=lambda ctx: _needed(ctx) and bool(ctx.fact("switchover_rebuild")),
    title=Text(zh="把旧主库重建为新备库", en="Rebuild the old primary as the new standby"),
)


dual_plan.attach_switchover(rb)  # what `dr plan` shows of each step (_dual_host_plan.py)
