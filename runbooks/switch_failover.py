"""Switch failover and failback: the seed's device fault (设备故障 → 启用备用设备).

A failed switch is replaced by its standby device. The runbook diagnoses (does the
switch's management answer? do its in-service ports have carrier?), sets the alert
level, then tells the operator, port by port from the inventory, which cable moves to
which port of the standby. It checks carrier on the standby's ports (a cable seated
wrongly shows up here, before anything forwards), configures each port for the domain
the failed switch's port served, and verifies from every branch behind the switch that
the service answers. The standby takes each cable in the port of the same name: a
standby of the same model, which is what a spare normally is.

Failback, once the repaired switch is back: wait until it answers and holds carrier,
give it its in-service configuration, move the cables back, return the standby to
standby (every port detached) and verify the branches again.

Ports that serve no domain in normal service (the cross-connect a line failover uses)
stay detached on the standby: a line failover in force when the switch died is not
carried over; run `line-failover` again once the branch is back if its line is still
cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _switch_plan as switch_plan
from runbooks._alert_levels import declare
from runbooks._switch_ports import (
    add_branch_confirmations,
    branches_reach_service,
    cable_moves,
    cable_plan,
    carrier_verdict,
    configured,
    in_service_ports,
    read_ports,
    switches,
)

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Switch

PARAMS = {
    "switch": Param("sw-funds", "the failed switch (its inventory name)", refers_to="switch"),
    "pair": Param(
        "credit", "the host pair whose service the branches must reach", refers_to="pair"
    ),
    "probe_command": Param(
        'python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], '
        'timeout=2)" {url}',
        "how a branch host checks the service ({url} is the pair's service_url, filled in "
        "shell-quoted: write it outside quotes)",
    ),
}

# ---- failover -----------------------------------------------------------------------

failover = Runbook(
    "switch-failover",
    title=Text(zh="故障交换机切换至备用设备", en="Replace a failed switch by its standby"),
    description=Text(
        zh="判断交换机故障；按资产清单逐口移线到备用交换机，检查备用口物理连通，配置并验证"
        "各网点可访问业务。",
        en="Confirm the switch failed; move its cables port by port (from the inventory) to "
        "the standby switch, check carrier, configure it and verify every branch reaches "
        "the service.",
    ),
    system="branch-network",
    params=PARAMS,
)


@failover.check(
    "diagnose",
    timeout="60s",
    title=Text(
        zh="诊断：交换机是否故障，备用设备是否可用", en="Diagnose the switch and its standby"
    ),
)
def diagnose(ctx: StepContext) -> Verdict:
    switch, standby = switches(ctx)
    ports = read_ports(ctx, switch.name)
    in_service = in_service_ports(switch)
    if ports is not None:
        lit = [m.port for m in in_service if m.port in ports and ports[m.port].link_up]
        if lit:
            return Verdict(
                False,
                Text(
                    zh=f"交换机 {switch.name} 有应答，端口 {'、'.join(lit)} 有载波："
                    "交换机工作正常，应按线路故障处理（line-failover）",
                    en=f"{switch.name} answers and port(s) {', '.join(lit)} have carrier: the "
                    "switch is working; look for a line fault (line-failover) instead",
                ),
            )
        finding = Text(
            zh=f"交换机 {switch.name} 有应答，但在用端口均无载波",
            en=f"{switch.name} answers but none of its in-service ports has carrier",
        )
    else:
        finding = Text(
            zh=f"交换机 {switch.name} 管理口无应答", en=f"{switch.name} management does not answer"
        )
    if read_ports(ctx, standby.name) is None:
        declare(ctx, "switch-and-standby-down", switch=switch.name, standby=standby.name)
        return Verdict(
            False,
            Text(
                zh=f"{finding.zh}，备用交换机 {standby.name} 也无应答：请人工换上其他设备，"
                "并更新资产清单",
                en=f"{finding.en}, and its standby {standby.name} does not answer either: "
                "bring in another device by hand and update the inventory",
            ),
        )
    declare(ctx, "switch-down", switch=switch.name)
    ctx.mark_service_lost(reason=finding.en)
    return Verdict(
        True,
        Text(
            zh=f"设备故障：{finding.zh}；备用交换机 {standby.name} 有应答",
            en=f"device fault: {finding.en}; standby {standby.name} answers",
        ),
    )


@failover.action(
    "cable-plan",
    title=Text(zh="逐口移线清单", en="The cable moves, port by port"),
)
def failover_cable_plan(ctx: StepContext) -> dict[str, object]:
    switch, standby = switches(ctx)
    return {"moves": cable_plan(ctx, switch.name, standby.name)}


failover.manual(
    "move-cables",
    title=Text(zh="移线到备用交换机", en="Move the cables to the standby switch"),
    instructions=Text(
        zh="按上一步“逐口移线清单”，把故障交换机每个端口的网线插到备用交换机同名端口"
        "（预先布线的热备设备：核对每根线已在位）。移线前先断开故障交换机电源，避免两台"
        "设备同时转发形成环路。完成后确认。",
        en="Following the cable moves listed by the previous step, move the cable in each "
        "port of the failed switch to the standby's port of the same name (a pre-cabled "
        "hot spare: check each cable is in place). Power the failed switch off first, so "
        "the two never forward at once (a loop). Confirm when done.",
    ),
)


@failover.check(
    "standby-carrier",
    timeout="60s",
    retries=5,
    backoff="2s",
    title=Text(zh="检查备用交换机端口物理连通", en="Check carrier on the standby's ports"),
)
def standby_carrier(ctx: StepContext) -> Verdict:
    switch, standby = switches(ctx)
    ports = read_ports(ctx, standby.name)
    if ports is None:
        raise StepFailed(
            Text(
                zh=f"备用交换机 {standby.name} 管理口不再应答",
                en=f"standby switch {standby.name} stopped answering its management",
            )
        )
    return carrier_verdict(ports, in_service_ports(switch), standby.name)


@failover.action(
    "configure-standby",
    timeout="120s",
    destructive=True,
    title=Text(zh="配置备用交换机", en="Configure the standby switch"),
)
def configure_standby(ctx: StepContext) -> dict[str, object]:
    switch, standby = switches(ctx)
    return _apply_plan(ctx, standby.name, switch, active=True)


@configure_standby.verify
def standby_configured(ctx: StepContext) -> bool:
    switch, standby = switches(ctx)
    return configured(read_ports(ctx, standby.name), switch, active=True)


@configure_standby.rollback
def standby_back_to_standby(ctx: StepContext) -> None:
    switch, standby = switches(ctx)
    _apply_plan(ctx, standby.name, switch, active=False)


@failover.wait_until(
    "branches-reach-service",
    timeout="90s",
    interval="0.5s",
    hold="2s",
    title=Text(zh="验证各网点可访问业务", en="Verify every branch reaches the service"),
)
def failover_verified(ctx: StepContext) -> Verdict:
    return branches_reach_service(ctx)


add_branch_confirmations(failover)

failover.mark_service_restored(
    title=Text(zh="网点业务经备用交换机恢复", en="Branches restored through the standby")
)


# ---- failback -----------------------------------------------------------------------

failback = Runbook(
    "switch-failback",
    title=Text(zh="修复的交换机回切", en="Move back to the repaired switch"),
    description=Text(
        zh="修复的交换机上线并稳定后，恢复其配置，逐口移线回去，备用交换机回到备用状态，验证业务。",
        en="Once the repaired switch is back and stable, restore its configuration, move the "
        "cables back port by port, return the standby to standby and verify the service.",
    ),
    system="branch-network",
    params={**PARAMS, "stable_for": Param(30, "seconds the repaired switch must stay up")},
)


@failback.wait_until(
    "repaired-switch-up",
    timeout="30m",
    interval="1s",
    hold="{stable_for}s",
    title=Text(zh="等待修复的交换机稳定", en="Wait until the repaired switch is stable"),
)
def repaired_switch_up(ctx: StepContext) -> Verdict:
    switch, _ = switches(ctx)
    ports = read_ports(ctx, switch.name)
    if ports is None:
        return Verdict(
            False,
            Text(
                zh=f"交换机 {switch.name} 管理口尚无应答",
                en=f"{switch.name} management does not answer yet",
            ),
        )
    return Verdict(
        True,
        Text(
            zh=f"交换机 {switch.name} 有应答，共 {len(ports)} 个端口",
            en=f"{switch.name} answers with {len(ports)} ports",
        ),
    )


@failback.action(
    "configure-repaired-switch",
    timeout="120s",
    title=Text(zh="恢复修复交换机的配置", en="Give the repaired switch its configuration"),
)
def configure_repaired(ctx: StepContext) -> dict[str, object]:
    switch, _ = switches(ctx)
    return _apply_plan(ctx, switch.name, switch, active=True)


@configure_repaired.verify
def repaired_configured(ctx: StepContext) -> bool:
    switch, _ = switches(ctx)
    return configured(read_ports(ctx, switch.name), switch, active=True)


failback.mark_service_lost(
    title=Text(
        zh="回切开始（移线期间业务中断）", en="Failback starts (service breaks while cables move)"
    )
)


@failback.action(
    "cable-plan",
    title=Text(zh="逐口移线清单（移回）", en="The cable moves back, port by port"),
)
def failback_cable_plan(ctx: StepContext) -> dict[str, object]:
    switch, standby = switches(ctx)
    return {"moves": cable_plan(ctx, standby.name, switch.name)}


failback.manual(
    "move-cables-back",
    title=Text(zh="移线回修复的交换机", en="Move the cables back to the repaired switch"),
    instructions=Text(
        zh="按上一步“逐口移线清单”，把备用交换机每个端口的网线插回修复交换机的同名端口，完成后确认。",
        en="Following the cable moves listed by the previous step, move each cable from the "
        "standby switch back to the repaired switch's port of the same name; confirm when done.",
    ),
)


@failback.check(
    "repaired-switch-carrier",
    timeout="60s",
    retries=5,
    backoff="2s",
    title=Text(zh="检查修复交换机端口物理连通", en="Check carrier on the repaired switch"),
)
def repaired_carrier(ctx: StepContext) -> Verdict:
    switch, _ = switches(ctx)
    ports = read_ports(ctx, switch.name)
    if ports is None:
        raise StepFailed(
            Text(
                zh=f"交换机 {switch.name} 管理口不再应答",
                en=f"{switch.name} stopped answering its management",
            )
        )
    return carrier_verdict(ports, in_service_ports(switch), switch.name)


@failback.action(
    "standby-to-standby",
    timeout="120s",
    destructive=True,
    title=Text(zh="备用交换机回到备用状态", en="Return the standby switch to standby"),
)
def release_standby(ctx: StepContext) -> dict[str, object]:
    switch, standby = switches(ctx)
    return _apply_plan(ctx, standby.name, switch, active=False)


@release_standby.verify
def standby_released(ctx: StepContext) -> bool:
    switch, standby = switches(ctx)
    return configured(read_ports(ctx, standby.name), switch, active=False)


@failback.wait_until(
    "branches-reach-service",
    timeout="90s",
    interval="0.5s",
    hold="2s",
    title=Text(zh="验证各网点可访问业务", en="Verify every branch reaches the service"),
)
def failback_verified(ctx: StepContext) -> Verdict:
    return branches_reach_service(ctx, on_standby=False)


add_branch_confirmations(failback)

failback.mark_service_restored(
    title=Text(zh="网点业务经修复交换机恢复", en="Branches restored through the repaired switch")
)


def _apply_plan(
    ctx: StepContext, device_name: str, plan_of: Switch, *, active: bool
) -> dict[str, object]:
    """Put `device_name`'s ports as `plan_of`'s plan says: in service (each port enabled,
    then attached to its domain; ports without one detached) or standing by (every port
    detached, left up so its carrier stays visible). Detaches go first, so a cross-
    connect never forwards together with the line it stands in for."""
    device = ctx.switch(device_name)
    moves = cable_moves(plan_of)
    changed: list[str] = []
    serving = [m for m in moves if active and m.domain is not None]
    for move in moves:
        if move not in serving and device.detach(move.port).changed:
            changed.append(f"detach {move.port}")
    for move in serving:
        if device.enable(move.port).changed:
            changed.append(f"enable {move.port}")
        if device.attach(move.port, str(move.domain)).changed:
            changed.append(f"attach {move.port} {move.domain}")
    device.save()
    return {"switch": device_name, "changed": changed}


switch_plan.attach(failover)  # what `dr plan` shows of each step (_switch_plan.py)
switch_plan.attach(failback)
