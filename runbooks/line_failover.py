"""Branch line failover and failback: the seed's network-fault procedure (网点网络故障).

Diagnose whether the device or the line failed. A failed device is brought in from its
standby (a person moves the cables; `switch-failover`). A failed line is left by
swapping the port-1 cables of the funds and non-funds switches, done as switch-port
operations: on the primary line's switch the line's port leaves the branch's forwarding
domain and the cross-connect to the other network's switch joins it, so the branch
reaches the data centre over the standby line. Failback waits until the primary line
has been healthy for a while (not one ping), then swaps back.

Where the switch is not managed, or the line lacks the swap fields, the swap is the
seed's literal one: a checklist by port labels for a person, then a confirmation
(_line_swap.py). The branch is checked the way its site's `check:` says, a person at
the branch included (_branch_checks.py).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.runbook import OutageWatch, Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _line_plan as line_plan
from runbooks import _line_swap
from runbooks._alert_levels import declare

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.engine.plan_targets import PlanContext

PARAMS = {
    "branch": Param("branch-1", "the branch (its site name) whose line failed", refers_to="branch"),
    "probe_command": Param(
        'python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], '
        'timeout=2)" {url}',
        "how a branch host checks the service ({url} is the pair's service_url, filled in "
        "shell-quoted: write it outside quotes)",
    ),
    "pair": Param("credit", "the host pair whose service the branch must reach", refers_to="pair"),
}


_line = _line_swap.line


def _branch_host(ctx: StepContext) -> str | None:
    hosts = ctx.hosts(f"site:{ctx.params['branch']}")
    return hosts[0].name if hosts else None


# ---- failover -----------------------------------------------------------------------

failover = Runbook(
    "line-failover",
    title=Text(zh="网点线路切换至备用线路", en="Move a branch to its standby line"),
    description=Text(
        zh="判断设备故障还是线路故障；线路故障时交换资金网与非资金网交换机的1号口（以端口操作完成），"
        "验证网点可访问数据中心业务。",
        en="Decide device fault or line fault; for a line fault swap the port-1 cables of the "
        "funds and non-funds switches (as port operations) and verify the branch reaches the "
        "data-centre service.",
    ),
    system="branch-network",
    params=PARAMS,
    outage_watch=OutageWatch("{pair}", "{branch}"),
)

failover.mark_service_lost(title=Text(zh="宣布网点线路中断", en="Declare the branch line down"))


@failover.check(
    "diagnose",
    timeout="60s",
    title=Text(zh="诊断：设备故障还是线路故障", en="Diagnose: device or line fault"),
)
def diagnose(ctx: StepContext) -> Verdict:
    line = _line(ctx, "primary")
    if _line_swap.diagnosed_by_hand(ctx):
        # Nothing here can be read: a person tells device from line fault next.
        ctx.remember("fault", "line")
        ctx.remember("failed_line", line.name)
        _declare_line_fault(ctx)
        return Verdict(
            True,
            Text(
                zh=f"交换机 {line.switch} 不受 dr 管理：由人工确认故障并按清单交换线缆",
                en=f"switch {line.switch} is not managed: a person confirms the fault and "
                "swaps the cables by the checklist",
            ),
        )
    try:
        status = ctx.switch(line.switch).port_status(line.port)
    except HostKeyRejected:
        raise  # a refused key is not a device fault: stop the run
    except TransportError as err:  # the switch's management does not answer: device fault
        ctx.remember("fault", "device")
        ctx.remember("failed_switch", line.switch)
        declare(ctx, "switch-down", switch=line.switch)
        return Verdict(
            True,
            Text(
                zh=f"交换机 {line.switch} 无法访问（{err}）：设备故障",
                en=f"switch {line.switch} unreachable ({err}): device fault",
            ),
        )
    peer_address = shlex.quote(str(line.peer_address))
    host = _branch_host(ctx)
    peer = (
        ctx.ssh(host, f"ping -c 1 -W 1 {peer_address}", warn=True, timeout=10).ok
        if line.peer_address and host is not None
        else status.link_up
    )
    if status.link_up and peer:
        return Verdict(
            False,
            Text(
                zh=f"{line.name} 看来正常（端口 {line.port} 有载波，对端可达）：无线路故障可切换",
                en=f"{line.name} looks healthy (port {line.port} up, peer answers): no line "
                "fault to fail over from",
            ),
        )
    ctx.remember("fault", "line")
    ctx.remember("failed_line", line.name)
    _declare_line_fault(ctx)
    reason = (
        Text(zh="无载波", en="no carrier")
        if not status.link_up
        else Text(zh="对端无应答", en="peer does not answer")
    )
    return Verdict(
        True,
        Text(
            zh=f"{line.name} 线路故障：{line.switch} {line.port} {reason.zh}",
            en=f"line fault on {line.name}: {reason.en} on {line.switch} {line.port}",
        ),
    )


failover.manual(
    "confirm-line-fault",
    when=lambda ctx: _line_swap.line_fault(ctx) and _line_swap.diagnosed_by_hand(ctx),
    title=Text(zh="人工确认为线路故障", en="Confirm by hand that the line failed"),
    instructions=_line_swap.CONFIRM_LINE_FAULT,
)


failover.manual(
    "bring-in-standby-device",
    when=lambda ctx: ctx.fact("fault") == "device",
    title=Text(zh="启用备用设备", en="Bring in the standby device"),
    instructions=Text(
        zh="交换机管理口无响应，判定为设备故障：请按 switch-failover 预案启用备用交换机，"
        "完成后确认。",
        en="The switch's management does not answer: a device fault. Bring in the standby "
        "switch with the switch-failover runbook, then confirm here.",
    ),
)


@failover.check(
    "standby-line-healthy",
    when=lambda ctx: _line_swap.line_fault(ctx) and _line_swap.managed(ctx, _line(ctx, "standby")),
    timeout="30s",
    title=Text(zh="确认备用线路正常", en="Check the standby line is healthy"),
)
def standby_line_healthy(ctx: StepContext) -> Verdict:
    line = _line(ctx, "standby")
    status = ctx.switch(line.switch).port_status(line.port)
    return Verdict(
        status.link_up,
        Text(
            zh=f"{line.name}（{line.switch} {line.port}）："
            f"{'有载波' if status.link_up else '无载波——不要切换'}",
            en=f"{line.name} on {line.switch} {line.port}: "
            f"{'carrier' if status.link_up else 'NO carrier — do not swap'}",
        ),
    )


_line_swap.add_swap_by_hand(failover, back=False, when=_line_swap.line_fault_by_hand)


@failover.action(
    "swap-to-standby-line",
    when=_line_swap.line_fault_by_ports,
    timeout="60s",
    destructive=True,
    title=Text(
        zh="交换资金网/非资金网1号口（切到备用线路）",
        en="Swap the port-1 cables (onto the standby line)",
    ),
)
def swap_to_standby(ctx: StepContext) -> dict[str, str]:
    swap = _line_swap.swap_ports(_line(ctx, "primary"))
    device = ctx.switch(swap.switch)
    # Detach first: both ports in one domain at once would loop the two switches. A
    # detach that fails raises, so the cross-connect is never attached beside a line that
    # still forwards.
    device.detach(swap.port)
    device.attach(swap.cross_connect_port, swap.domain)
    device.save()  # only where the inventory says `save: true`
    return {"switch": swap.switch, "detached": swap.port, "attached": swap.cross_connect_port}


@swap_to_standby.verify
def on_standby(ctx: StepContext) -> bool:
    # By what each port forwards (link type, VLANs, admin state), not by its access VLAN:
    # a trunk or hybrid line port has none, yet forwards the branch's VLAN.
    swap = _line_swap.swap_ports(_line(ctx, "primary"))
    device = ctx.switch(swap.switch)
    return device.port_status(swap.cross_connect_port).forwards(swap.domain) and not (
        device.port_status(swap.port).forwards(swap.domain)
    )


@swap_to_standby.rollback
def back_to_primary(ctx: StepContext) -> None:
    _swap_back(ctx)


@failover.wait_until(
    "branch-reaches-service",
    when=_line_swap.checked_automatically,
    timeout="60s",
    interval="0.5s",
    hold="2s",
    title=Text(zh="验证网点可访问业务", en="Verify the branch reaches the service"),
)
def branch_reaches_service(ctx: StepContext) -> Verdict:
    return _line_swap.branch_verdict(ctx, on_standby=True)


_line_swap.add_person_check(failover)

failover.mark_service_restored(title=Text(zh="网点业务已恢复", en="Branch service restored"))


# ---- failback -----------------------------------------------------------------------

failback = Runbook(
    "line-failback",
    title=Text(zh="网点线路回切至主线路", en="Move a branch back to its primary line"),
    description=Text(
        zh="主线路恢复并稳定一段时间后，尽快把1号口换回，验证业务。",
        en="Once the primary line has been healthy for a stable period, swap the port-1 "
        "cables back and verify the service.",
    ),
    system="branch-network",
    params={**PARAMS, "stable_for": Param(30, "seconds the primary line must stay up")},
)


def _line_port_shut(ctx: StepContext) -> bool:
    """Whether the failed line's port is shut down: how a Huawei trunk or hybrid port is
    detached (VRP cannot make it an access port in one step), which hides its carrier."""
    line = _line(ctx, "primary")
    if not _line_swap.managed(ctx, line):
        return False
    return not ctx.switch(line.switch).port_status(line.port).admin_up


failback.manual(
    "confirm-primary-line-stable",
    when=_line_swap.diagnosed_by_hand,
    title=Text(zh="确认主线路已修复并稳定", en="Confirm the primary line is repaired and stable"),
    instructions=_line_swap.CONFIRM_PRIMARY_STABLE,
)

failback.manual(
    "confirm-primary-line-repaired",
    when=_line_port_shut,
    title=Text(zh="确认主线路已修复", en="Confirm the primary line is repaired"),
    instructions=Text(
        zh="主线路所在交换机端口为 trunk/hybrid 口，切换时已被关闭（shutdown），"
        "以免与跨接口同时转发，因此看不到其载波。请向运营商确认线路已修复并稳定，然后确认；"
        "回切时先断开跨接口，再开启该端口。",
        en="The primary line's switch port is a trunk or hybrid port, which the failover shut "
        "down so that it could not forward beside the cross-connect; its carrier cannot be "
        "watched. Confirm with the carrier that the line is repaired and stable, then confirm "
        "here; the swap back detaches the cross-connect before it brings the port up.",
    ),
)


@failback.wait_until(
    "primary-line-stable",
    when=lambda ctx: not _line_swap.diagnosed_by_hand(ctx) and not _line_port_shut(ctx),
    timeout="30m",
    interval="1s",
    hold="{stable_for}s",
    title=Text(zh="等待主线路稳定", en="Wait until the primary line is stable"),
)
def primary_line_stable(ctx: StepContext) -> Verdict:
    line = _line(ctx, "primary")
    status = ctx.switch(line.switch).port_status(line.port)
    return Verdict(
        status.link_up,
        Text(
            zh=f"{line.name}：{'有载波' if status.link_up else '中断'}",
            en=f"{line.name}: {'carrier' if status.link_up else 'down'}",
        ),
    )


_line_swap.add_swap_by_hand(failback, back=True, when=_line_swap.swap_by_hand)


@failback.action(
    "swap-to-primary-line",
    when=lambda ctx: not _line_swap.swap_by_hand(ctx),
    timeout="60s",
    destructive=True,
    title=Text(zh="换回1号口（回到主线路）", en="Swap the port-1 cables back"),
)
def swap_to_primary(ctx: StepContext) -> dict[str, str]:
    return _swap_back(ctx)


@swap_to_primary.verify
def on_primary(ctx: StepContext) -> bool:
    swap = _line_swap.swap_ports(_line(ctx, "primary"))
    device = ctx.switch(swap.switch)
    return device.port_status(swap.port).forwards(swap.domain) and not (
        device.port_status(swap.cross_connect_port).forwards(swap.domain)
    )


@failback.wait_until(
    "branch-reaches-service",
    when=_line_swap.checked_automatically,
    timeout="60s",
    interval="0.5s",
    hold="2s",
    title=Text(zh="验证网点可访问业务", en="Verify the branch reaches the service"),
)
def branch_reaches_service_again(ctx: StepContext) -> Verdict:
    return _line_swap.branch_verdict(ctx, on_standby=False)


_line_swap.add_person_check(failback)


def _swap_back(ctx: StepContext) -> dict[str, str]:
    swap = _line_swap.swap_ports(_line(ctx, "primary"))
    device = ctx.switch(swap.switch)
    device.detach(swap.cross_connect_port)
    device.attach(swap.port, swap.domain)
    device.save()  # only where the inventory says `save: true`
    return {"switch": swap.switch, "detached": swap.cross_connect_port, "attached": swap.port}


def _declare_line_fault(ctx: StepContext) -> None:
    """Blue for this branch's line; yellow when most branches lost their primary line at
    once, which points at a trunk rather than one branch's line."""
    primaries = [line for line in ctx.inventory.lines if line.kind == "primary"]
    carrier: dict[str, bool] = {}
    # An unmanaged switch cannot be read: its lines do not count toward "most".
    readable = {line.switch for line in primaries if _line_swap.managed(ctx, line)}
    primaries = [line for line in primaries if line.switch in readable]
    for switch in readable:
        for status in ctx.switch(switch).ports():
            carrier[f"{switch} {status.name}"] = status.link_up
    down = sum(1 for line in primaries if not carrier.get(f"{line.switch} {line.port}", False))
    if down * 2 > len(primaries) > 1:
        declare(ctx, "most-branch-lines-down", down=down, total=len(primaries))
    else:
        declare(ctx, "branch-line-down", branch=ctx.params["branch"])


# ---- what `dr plan` shows (and a confirmation says): hooks from _line_plan.py ----------

_REPEATED = Text("反复执行，直至持续成功", "repeated until it holds")


@diagnose.plan
def plan_diagnose(plan: PlanContext) -> None:
    line = line_plan.planned_line(plan, "primary")
    if line is None or not plan.inventory.switch(line.switch).managed:
        return
    plan.switch(
        line.switch,
        "read",
        line.port,
        note=Text("主线路端口的载波", "carrier of the primary line's port"),
    )
    hosts = [h for h in plan.inventory.hosts if h.site == line.site]
    if line.peer_address is not None and hosts:
        peer = shlex.quote(str(line.peer_address))
        plan.ssh(
            hosts[0],
            f"ping -c 1 -W 1 {peer}",
            note=Text("运营商对端是否应答", "does the carrier's peer answer"),
            changes=False,
        )


@standby_line_healthy.plan
def plan_standby_line(plan: PlanContext) -> None:
    line = line_plan.planned_line(plan, "standby")
    if line is not None and plan.inventory.switch(line.switch).managed:
        plan.switch(
            line.switch,
            "read",
            line.port,
            note=Text("备用线路的载波", "carrier of the standby line"),
        )


@swap_to_standby.plan
def plan_swap_to_standby(plan: PlanContext) -> None:
    line_plan.plan_swap(plan, back=False)


@branch_reaches_service.plan
def plan_branch_reaches_service(plan: PlanContext) -> None:
    line_plan.plan_branch_check(plan, _REPEATED)


@primary_line_stable.plan
def plan_primary_line_stable(plan: PlanContext) -> None:
    line = line_plan.planned_line(plan, "primary")
    if line is not None and plan.inventory.switch(line.switch).managed:
        plan.switch(
            line.switch,
            "read",
            line.port,
            note=Text("反复检查，直至持续正常", "polled until it stays up"),
        )


@swap_to_primary.plan
def plan_swap_to_primary(plan: PlanContext) -> None:
    line_plan.plan_swap(plan, back=True)


@branch_reaches_service_again.plan
def plan_branch_reaches_service_again(plan: PlanContext) -> None:
    line_plan.plan_branch_check(plan, _REPEATED)
