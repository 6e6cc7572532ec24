"""Unplanned dual-host cutover (双机切换, 主机故障): the primary has failed; the standby
takes over, and there must never be two primaries.

1. Confirm the failure from several vantage points: the orchestrator (SSH to the
   primary), the branches (the service through the VIP) and the standby (the primary's
   database on the DC LAN), so a cut management path is not taken for a dead host.
   A primary that the orchestrator and the branches still reach has not failed: use
   the planned `dual-host-switchover`. One that only the branches or the standby
   still reach is alive: a person decides whether to take it out of service.
2. Check the standby: it answers, it is still a standby, and how far it has replayed
   (the last replayed commit time is the RPO estimate).
3. Fence the old primary, with the inventory's methods in their order: over SSH (stop
   the service and PostgreSQL, release the VIP), the UPS outlet that feeds it (through
   NUT), a local command (IPMI, PDU), or a person who powers it off and confirms. A
   person's confirmation is checked against the evidence: while any branch still sees
   the old primary serve, or the standby still reaches its database, the run stops and
   says so, whoever (or `--auto-confirm`)
   confirmed. The standby is never promoted without a fence that held.
4. The lag gate (runbooks/_lag_gate.py): a standby further behind than the pair's RPO
   target (`max_lag_on_failover` bytes, `rpo` seconds; RPO 0 for a synchronous pair)
   is promoted only with leadership's approval, given knowing by how much; refused,
   the run stops without promoting.
5. Promote the standby (its last replayed commit is recorded as the last data point),
   on a synchronous pair stop the new primary waiting for a standby it has not got,
   move the VIP (address plus gratuitous ARP), start the service, and verify from a
   branch, end to end, a write and a read through the VIP.

Every step re-checks the world before acting, so a killed run finishes with
`dr resume`: a promotion is never repeated, and never done without the fencing facts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.inventory import UpsOutletFence
from orchestrator.runbook import OutageWatch, Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _dual_host_plan as dual_plan
from runbooks import _dual_host_words as words
from runbooks import _fencing as fencing
from runbooks import _lag_gate as lag_gate

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import HostPair

rb = Runbook(
    "dual-host-cutover",
    title=Text(zh="双机切换（主机故障）", en="Dual-host cutover (the primary has failed)"),
    description=Text(
        zh="主机故障时：多点确认故障，检查备机，先隔离旧主机，再提升备机、迁移 VIP、启动服务并"
        "从网点端到端验证；记录 RTO/RPO。",
        en="The primary has failed: confirm it from two vantage points, check the standby, "
        "fence the old primary first, then promote, move the VIP, start the service and "
        "verify end to end from a branch; records RTO and RPO.",
    ),
    system="credit-report",
    outage_watch=OutageWatch("{pair}"),
    params={
        **pair_ops.PAIR_PARAMS,
        **lag_gate.GATE_PARAMS,
        "branch_evidence": Param(
            "required",
            "after a manual power-off: 'required' (a branch must answer and none may see the "
            "old primary serve) or 'optional' (no branch answering is accepted)",
        ),
    },
)

_FENCED = "fenced_by"
# How long "the primary did not answer" stays fresh enough to skip SSH fencing.
RECENT_S = 30.0
_NEEDS_MANUAL = "fence_needs_manual"


def _pair(ctx: StepContext) -> HostPair:
    return pair_ops.the_pair(ctx)


def _now() -> str:
    return datetime.now(UTC).isoformat()


# ---- 1. confirm --------------------------------------------------------------------


@rb.check(
    "confirm-failure",
    timeout="2m",
    title=Text(zh="多点确认主机故障", en="Confirm the failure from two vantage points"),
)
def confirm_failure(ctx: StepContext) -> Verdict:
    pair = _pair(ctx)
    primary = pair_ops.primary_of(ctx, pair)
    standby = pair_ops.standby_of(ctx, pair)
    # All vantage points at once: a dead host costs each of them a timeout.
    with ThreadPoolExecutor(max_workers=3) as pool:
        views_asked = pool.submit(pair_ops.branch_views, ctx, pair)
        lan_asked = pool.submit(pair_ops.database_reachable_from, ctx, pair, standby, primary)
        reached = pair_ops.reachable(ctx, primary)
        db = pair_ops.database_status(ctx, pair, primary) if reached else None
        views, lan_view = views_asked.result(), lan_asked.result()
    serving = [v.branch for v in views if v.serving]
    answered = [v.branch for v in views if v.answered]
    # Evidence that the old primary lives: branches it serves, or its database still
    # accepting connections on the DC LAN as the standby sees it.
    alive = serving + ([f"{standby.name} (DC LAN)"] if lan_view else [])
    ctx.remember("primary_reachable", reached)
    ctx.remember("confirmed_at", _now())
    ctx.remember("primary_serving_at", alive)
    ctx.remember("branches_answered", answered)
    if reached and db is not None and db.is_primary and serving:
        return Verdict(False, words.primary_healthy(primary.name, serving))
    ctx.mark_service_lost(reason=f"{primary.name} failed (dual-host cutover)")
    ctx.set_alert_level(
        "orange",
        "equipment",
        Text(
            zh=f"核心主机 {primary.name} 故障，{pair.service} 切换至备机 {pair.standby}",
            en=f"core host {primary.name} failed; {pair.service} cuts over to {pair.standby}",
        ),
    )
    if alive:
        ctx.note(
            Text(
                zh=f"编排端无法到达 {primary.name}，但 {', '.join(alive)} 仍看到它在运行："
                "是管理链路中断，不是主机宕机。切换前必须先隔离它。",
                en=f"The orchestrator cannot reach {primary.name}, but {', '.join(alive)} "
                "still see it running: the management path is cut, the host is alive. It "
                "must be fenced before anything is promoted.",
            )
        )
    return Verdict(True, words.failure_seen(primary.name, reached, answered, alive))


rb.manual(
    "decide-on-live-primary",
    when=lambda ctx: bool(ctx.fact("primary_serving_at")),
    title=Text(
        zh="决定：旧主机仍在服务，是否切换", en="Decide: the old primary still serves; cut over?"
    ),
    instructions=Text(
        zh="网点仍能使用旧主机上的服务，只是编排端的管理链路中断。继续切换将先隔离旧主机"
        "（经 UPS 插座断电或人工断电），业务会中断片刻。仅当必须让旧主机退出服务时才确认；"
        "否则中止本次运行并修复管理链路。",
        en="The branches still use the service on the old primary; only the orchestrator's "
        "management path is cut. Going on fences the old primary first (its UPS outlet "
        "switched off, or a person powers it off) and the service stops for a moment. "
        "Confirm only if the old primary must leave service; otherwise abort and repair "
        "the management path.",
    ),
)


# ---- 2. the standby -----------------------------------------------------------------


@rb.check(
    "check-standby",
    timeout="1m",
    retries=2,
    backoff="2s",
    title=Text(zh="检查备机状态与复制位置", en="Check the standby and its replication position"),
)
def check_standby(ctx: StepContext) -> Verdict:
    pair = _pair(ctx)
    standby = pair_ops.standby_of(ctx, pair)
    status = pair_ops.database_status(ctx, pair, standby)
    if status is None:
        return Verdict(False, words.standby_silent(standby.name))
    if status.is_primary and not ctx.fact("promoted"):
        return Verdict(False, words.standby_already_primary(standby.name))
    replayed = status.last_replay_at.isoformat() if status.last_replay_at else None
    ctx.remember("standby_replay_lsn", status.replay_lsn)
    ctx.remember("standby_last_replay_at", replayed)
    return Verdict(True, words.standby_position(standby.name, status.replay_lsn, replayed))


# ---- 3. fence -----------------------------------------------------------------------


@rb.action(
    "fence-old-primary",
    timeout="3m",
    destructive=True,
    title=Text(zh="隔离旧主机（防止双主）", en="Fence the old primary (no two primaries)"),
)
def fence_old_primary(ctx: StepContext) -> dict[str, object]:
    pair = _pair(ctx)
    primary = pair_ops.primary_of(ctx, pair)
    attempts: list[fencing.FenceAttempt] = []
    for method in pair.fencing:
        if method.method == "manual":
            ctx.remember(_NEEDS_MANUAL, True)
            reasons = _reasons(attempts)
            ctx.note(
                Text(
                    zh="自动隔离均未成功，需人工断电并确认：" + reasons.zh,
                    en="No automatic fence held; a person must power the old primary off "
                    "and confirm: " + reasons.en,
                )
            )
            return {"attempts": [a.to_dict() for a in attempts], "fenced_by": None}
        if method.method == "ssh" and _just_found_unreachable(ctx):
            attempt = fencing.FenceAttempt(
                "ssh",
                False,
                Text(
                    f"{primary.name} 刚才经 SSH 无应答",
                    f"{primary.name} did not answer over SSH moments ago",
                ),
            )
        elif method.method == "ssh":
            attempt = fencing.fence_over_ssh(ctx, pair, primary)
        elif method.method == "ups-outlet":
            attempt = fencing.fence_by_ups_outlet(ctx, method, primary)
        else:
            attempt = fencing.fence_by_command(ctx, method, primary)
        attempts.append(attempt)
        if attempt.fenced:
            ctx.remember(_FENCED, attempt.method)
            ctx.remember("fenced_at", _now())
            return {"attempts": [a.to_dict() for a in attempts], "fenced_by": attempt.method}
    reasons = _reasons(attempts)
    raise StepFailed(
        Text(
            f"无法隔离 {primary.name}，清单也未声明人工方式；不会提升备机。{reasons.zh}",
            f"{primary.name} could not be fenced and the inventory declares no manual "
            f"method; the standby will not be promoted. {reasons.en}",
        )
    )


def _just_found_unreachable(ctx: StepContext) -> bool:
    """The confirmation found the primary unreachable within the last half minute: SSH
    fencing would only spend another timeout (skipping it can only lead to the next
    method, never to a promotion)."""
    confirmed_at = ctx.fact("confirmed_at")
    if ctx.fact("primary_reachable") is not False or not confirmed_at:
        return False
    age = datetime.now(UTC) - datetime.fromisoformat(confirmed_at)
    return age.total_seconds() < RECENT_S


@fence_old_primary.verify
def fence_tried(ctx: StepContext) -> bool:
    return bool(ctx.fact(_FENCED) or ctx.fact(_NEEDS_MANUAL))


def _reasons(attempts: list[fencing.FenceAttempt]) -> Text:
    """Each method tried and what it found, in each language."""
    if not attempts:
        return Text("未声明自动隔离方式", "no automatic method")
    return Text(
        "；".join(f"{a.method}：{a.detail.zh}" for a in attempts),
        "; ".join(f"{a.method}: {a.detail.en}" for a in attempts),
    )


rb.manual(
    "confirm-powered-off",
    when=lambda ctx: bool(ctx.fact(_NEEDS_MANUAL)) and not ctx.fact(_FENCED),
    destructive=True,
    title=Text(zh="人工断开旧主机电源并确认", en="Power the old primary off by hand and confirm"),
    instructions=Text(
        zh="到机房断开旧主机的电源（或拔掉其全部网线），确认其已停止运行后再确认本步。"
        "确认后系统会从网点核实旧主机已不再提供服务，否则不会提升备机。",
        en="In the machine room, switch the old primary off (or pull all its network "
        "cables) and confirm only once it has stopped. The run then checks from the "
        "branches that it no longer serves; otherwise the standby is not promoted.",
    ),
)


@rb.check(
    "fencing-holds",
    timeout="1m",
    title=Text(zh="核实隔离有效", en="Check that the fence holds"),
)
def fencing_holds(ctx: StepContext) -> Verdict:
    pair = _pair(ctx)
    primary = pair_ops.primary_of(ctx, pair)
    method = ctx.fact(_FENCED)
    if method == "ups-outlet":
        outlet = next(m for m in pair.fencing if isinstance(m, UpsOutletFence))
        state = fencing.outlet_state(ctx, outlet)
        if state == "on":
            return Verdict(False, words.outlet_on_again(primary.name))
    if method == "ssh" and pair_ops.database_status(ctx, pair, primary) is not None:
        return Verdict(False, words.database_runs_again(primary.name))
    if method:
        return Verdict(True, words.fenced_by(primary.name, str(method)))
    if not ctx.fact(_NEEDS_MANUAL):
        return Verdict(False, words.NO_FENCE)
    return _manual_fence_evidence(ctx, pair)


def _manual_fence_evidence(ctx: StepContext, pair: HostPair) -> Verdict:
    """A person (or --auto-confirm) said the old primary is off: believe it only when no
    branch still sees it serve and the standby no longer reaches its database."""
    primary = pair.primary
    standby = pair_ops.standby_of(ctx, pair)
    views = pair_ops.branch_views(ctx, pair)
    serving = [v.branch for v in views if v.serving]
    if pair_ops.database_reachable_from(ctx, pair, standby, pair_ops.primary_of(ctx, pair)):
        serving.append(f"{standby.name} (DC LAN)")
    if serving:
        return Verdict(False, words.still_serving(serving, primary, ctx.run_id))
    if not any(v.answered for v in views) and ctx.params["branch_evidence"] == "required":
        return Verdict(False, words.no_branch_evidence(primary))
    ctx.remember(_FENCED, "manual")
    ctx.remember("fenced_at", _now())
    return Verdict(True, words.powered_off_by_hand(primary))


# ---- 4. take over -------------------------------------------------------------------

# A standby behind the pair's RPO target waits for leadership's approval there, which
# then stands for the promotion's approval too (one decision, told the lag).
lag_gate.add_gate(rb)

rb.approval(
    "approve-promotion",
    when=lambda ctx: not ctx.fact(lag_gate.BEHIND),
    title=Text(zh="领导审批：提升备机接管生产", en="Leadership approves promoting the standby"),
    instructions=Text(
        zh="旧主机已隔离（见上一步）。批准后备机将被提升为主库并接管服务地址与业务；"
        "此操作按橙色预警处置，须经应急领导小组批准。",
        en="The old primary is fenced (see the step above). Once approved, the standby is "
        "promoted to primary and takes over the service address and the service: an "
        "orange-level action, approved by the leadership group.",
    ),
)


@rb.action(
    "promote-standby",
    timeout="2m",
    destructive=True,
    title=Text(zh="提升备机为主库", en="Promote the standby"),
)
def promote_standby(ctx: StepContext) -> dict[str, object]:
    if not ctx.fact(_FENCED):
        raise StepFailed(
            "旧主机未被隔离，拒绝提升 / the old primary is not fenced: refusing to promote"
        )
    pair = _pair(ctx)
    standby = pair_ops.standby_of(ctx, pair)
    status = pair_ops.database_status(ctx, pair, standby)
    if status is None:
        raise StepFailed(f"the database on {standby.name} does not answer")
    if status.last_replay_at is not None:
        ctx.mark_last_data_point(
            status.last_replay_at,
            source=Text(
                f"{standby.name} 上最后回放的交易", f"last transaction replayed on {standby.name}"
            ),
        )
    replayed = status.last_replay_at.isoformat() if status.last_replay_at else None
    ctx.remember("last_replay_at", replayed)
    ctx.remember("promoting_at", _now())
    pair_ops.promote(ctx, pair, standby)
    ctx.remember("promoted", True)
    return {"promoted": standby.name, "replay_lsn": status.replay_lsn, "last_replay_at": replayed}


@promote_standby.verify
def standby_promoted(ctx: StepContext) -> bool:
    # Without the fencing fact nothing counts as done: the action then refuses.
    if not ctx.fact(_FENCED):
        return False
    pair = _pair(ctx)
    status = pair_ops.database_status(ctx, pair, pair_ops.standby_of(ctx, pair))
    return status is not None and status.is_primary


@rb.action(
    "release-synchronous-wait",
    timeout="1m",
    when=lambda ctx: _pair(ctx).replication == "synchronous",
    title=Text(
        zh="新主库不再等待同步备机（其备机尚未重建）",
        en="The new primary stops waiting for a synchronous standby (it has none yet)",
    ),
)
def release_synchronous_wait(ctx: StepContext) -> None:
    pair = _pair(ctx)
    lag_gate.release_synchronous_wait(ctx, pair, pair_ops.standby_of(ctx, pair))


@release_synchronous_wait.verify
def synchronous_wait_released(ctx: StepContext) -> bool:
    pair = _pair(ctx)
    return lag_gate.waits_for_standby(ctx, pair, pair_ops.standby_of(ctx, pair)) is False


@rb.action(
    "move-vip",
    timeout="1m",
    title=Text(zh="迁移 VIP（含免费 ARP）", en="Move the VIP (with gratuitous ARP)"),
)
def move_vip(ctx: StepContext) -> None:
    pair = _pair(ctx)
    pair_ops.take_vip(ctx, pair, pair_ops.standby_of(ctx, pair))


@move_vip.verify
def vip_moved(ctx: StepContext) -> bool:
    pair = _pair(ctx)
    return pair_ops.holds_vip(ctx, pair, pair_ops.standby_of(ctx, pair)) is True


@rb.action(
    "start-service",
    timeout="1m",
    retries=2,
    backoff="1s",
    title=Text(zh="在新主机启动征信服务", en="Start the credit service on the new primary"),
)
def start_service(ctx: StepContext) -> None:
    pair = _pair(ctx)
    pair_ops.start_service(ctx, pair, pair_ops.standby_of(ctx, pair))


@start_service.verify
def service_started(ctx: StepContext) -> bool:
    pair = _pair(ctx)
    return pair_ops.service_running(ctx, pair, pair_ops.standby_of(ctx, pair)) is True


@rb.wait_until(
    "verify-end-to-end",
    timeout="90s",
    interval="0.5s",
    title=Text(
        zh="端到端验证服务（按清单的探测方式）",
        en="Verify the service end to end (the inventory's probe)",
    ),
)
def verify_end_to_end(ctx: StepContext) -> Verdict:
    pair = _pair(ctx)
    return pair_ops.end_to_end_through_vip(ctx, pair)


rb.mark_service_restored(
    title=Text(
        zh="征信服务已在新主机恢复", en="Credit service verified restored on the new primary"
    )
)

# ---- what `dr plan` shows: hosts and commands of each step (_dual_host_plan.py) ----------
confirm_failure.plan(dual_plan.confirm_failure)
check_standby.plan(dual_plan.check_standby)
fence_old_primary.plan(dual_plan.fence)
promote_standby.plan(dual_plan.promote)
move_vip.plan(dual_plan.take_vip)
start_service.plan(dual_plan.start_service)
verify_end_to_end.plan(dual_plan.end_to_end)
