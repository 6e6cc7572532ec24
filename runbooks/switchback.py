"""Switchback (回切): return the pair to the layout its inventory declares.

After a switchover or a cutover the declared standby serves. This switches over, with
no data loss, back to the declared primary and rebuilds the declared standby behind it,
so the pair ends as it began: declared primary writable and holding the VIP and the
service, declared standby streaming from it. Each part is skipped when the pair is
already that way, so running it on a pair in its original layout changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks._standby import live_roles, streaming_replica

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext

rb = Runbook(
    "switchback",
    title=Text(zh="双机回切（恢复原主备布局）", en="Switch back to the declared layout"),
    description=Text(
        zh="计划内切换回资产清单声明的主机并重建备库：原主机为主库、持有VIP并提供服务，"
        "原备机以流复制跟随。",
        en="Planned switchover back to the inventory's declared primary, then rebuild the "
        "declared standby: the declared primary writes, holds the VIP and serves; the "
        "declared standby streams from it.",
    ),
    system="credit-report",
    params={
        **pair_ops.PAIR_PARAMS,
        "method": Param(
            "rewind",
            "how to rebuild the standby: rewind or base-backup",
            choices=("rewind", "base-backup"),
        ),
    },
    # The included switchover's rollbacks restart the old primary if the standby could
    # not take over; they never do once it was promoted.
    on_failure="rollback",
)


@rb.check(
    "check-layout",
    timeout="60s",
    title=Text(zh="对照声明的主备布局", en="Compare with the declared layout"),
)
def check_layout(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    roles = live_roles(ctx, pair)
    declared = pair.primary
    if roles.primary is None:
        return Verdict(
            False,
            Text(
                zh="双机中没有可写主库：请先恢复业务",
                en="no writable primary in the pair: recover the service first",
            ),
        )
    switch = roles.primary.name != declared
    ctx.remember("switchback_switchover", switch)
    rebuild = not switch and streaming_replica(ctx, pair, roles.primary, roles.other) is None
    ctx.remember("switchback_rebuild", rebuild)
    standby = pair.standby
    if switch:
        serving = roles.primary.name
        return Verdict(
            True,
            Text(
                zh=f"{serving} 正在提供服务；回切到 {declared}",
                en=f"{serving} serves; switching back to {declared}",
            ),
        )
    if rebuild:
        return Verdict(
            True,
            Text(
                zh=f"{declared} 正在提供服务；{standby} 须重建为其备库",
                en=f"{declared} serves; {standby} must be rebuilt as its standby",
            ),
        )
    return Verdict(
        True,
        Text(
            zh=f"{declared} 正在提供服务，{standby} 已在从它流复制",
            en=f"{declared} serves and {standby} streams from it already",
        ),
    )


# Without a switchover nothing stops serving: the run's RTO is zero, not its length.
rb.mark_service_lost(
    "no-outage",
    when=lambda ctx: not ctx.fact("switchback_switchover"),
    title=Text(zh="无需切换，业务不中断", en="No switchover needed: no interruption"),
)
rb.mark_service_restored(
    "service-unaffected",
    when=lambda ctx: not ctx.fact("switchback_switchover"),
    title=Text(zh="业务持续可用", en="The service stays available"),
)

rb.include(
    "switchover",
    "dual-host-switchover",
    params={"pair": "{pair}", "branches": "{branches}", "to": "primary", "method": "{method}"},
    when=lambda ctx: bool(ctx.fact("switchback_switchover")),
)

rb.include(
    "rebuild",
    "rebuild-standby",
    params={"pair": "{pair}", "branches": "{branches}", "method": "{method}"},
    when=lambda ctx: bool(ctx.fact("switchback_rebuild")),
)


@rb.check(
    "original-layout",
    timeout="60s",
    retries=3,
    backoff="2s",
    title=Text(zh="确认已恢复原布局", en="Confirm the original layout"),
)
def original_layout(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    primary, standby = pair_ops.primary_of(ctx, pair), pair_ops.standby_of(ctx, pair)
    p, s = primary.name, standby.name
    problems: list[Text] = []
    status = pair_ops.database_status(ctx, pair, primary)
    if status is None or not status.is_primary:
        problems.append(Text(zh=f"{p} 不是可写主库", en=f"{p} is not the writable primary"))
    if not pair_ops.holds_vip(ctx, pair, primary) or pair_ops.holds_vip(ctx, pair, standby):
        problems.append(Text(zh=f"VIP 不在（或不只在）{p} 上", en=f"the VIP is not (only) on {p}"))
    if not pair_ops.service_running(ctx, pair, primary):
        problems.append(Text(zh=f"{p} 上服务未运行", en=f"the service does not run on {p}"))
    if pair_ops.service_running(ctx, pair, standby):
        problems.append(Text(zh=f"{s} 上服务仍在运行", en=f"the service still runs on {s}"))
    if streaming_replica(ctx, pair, primary, standby) is None:
        problems.append(Text(zh=f"{s} 没有从 {p} 流复制", en=f"{s} does not stream from {p}"))
    views = pair_ops.branch_views(ctx, pair)
    if not views or not all(view.serving for view in views):
        problems.append(
            Text(
                zh="有网点无法经 VIP 访问服务",
                en="a branch does not reach the service through the VIP",
            )
        )
    if problems:
        return Verdict(
            False,
            Text(zh="；".join(t.zh for t in problems), en="; ".join(t.en for t in problems)),
        )
    return Verdict(
        True,
        Text(
            zh=f"{p} 为主库，持有 VIP 并运行服务；{s} 流复制正常；{len(views)} 个网点可用",
            en=f"{p} primary with the VIP and the service; {s} streams; "
            f"{len(views)} branch(es) served",
        ),
    )
