"""A branch's two lines and the seed's cable swap, read from the inventory.

The seed's procedure is literal: swap the port-1 cables of the funds and non-funds
switches by hand. Where the switch is managed and the line declares its forwarding
domain and the pre-cabled cross-connect, line_failover.py does the swap as port
operations. Where it is not (`managed: false`, or the line's swap fields left out), the
swap is a checklist for a person, by the ports' labels, and a confirmation: the run
goes on instead of failing on a switch it cannot reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.text import Text
from runbooks import _branch_checks

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Line
    from orchestrator.runbook import Condition, Runbook, Verdict


def line(ctx: StepContext, kind: str) -> Line:
    """The branch's (param `branch`) line of `kind`: primary or standby."""
    lines = [
        item
        for item in ctx.inventory.lines
        if item.site == ctx.params["branch"] and item.kind == kind
    ]
    if not lines:
        raise StepFailed(f"the inventory has no {kind} line for site {ctx.params['branch']}")
    return lines[0]


def managed(ctx: StepContext, item: Line) -> bool:
    return ctx.inventory.switch(item.switch).managed


def diagnosed_by_hand(ctx: StepContext) -> bool:
    """The primary line's switch cannot be read: a person tells device from line fault."""
    return not managed(ctx, line(ctx, "primary"))


def swap_by_hand(ctx: StepContext) -> bool:
    """The swap is a person's: the switch is unmanaged, or the line lacks the domain and
    cross-connect a port-operation swap needs."""
    primary = line(ctx, "primary")
    return not managed(ctx, primary) or not (primary.cross_connect_port and primary.domain)


def line_fault(ctx: StepContext) -> bool:
    """The run's diagnosis (fact `fault`) found a line fault, not a device fault."""
    return bool(ctx.fact("fault") == "line")


def line_fault_by_ports(ctx: StepContext) -> bool:
    return line_fault(ctx) and not swap_by_hand(ctx)


def line_fault_by_hand(ctx: StepContext) -> bool:
    return line_fault(ctx) and swap_by_hand(ctx)


def port_label(ctx: StepContext, item: Line) -> str:
    """How people in the rack know the line's port: its label, else the switch's note."""
    switch = ctx.inventory.switch(item.switch)
    label = item.port_label or switch.ports.get(item.port) or item.name
    return f"{item.switch} port {item.port} «{label}»"


def checklist(ctx: StepContext, *, back: bool) -> list[dict[str, str]]:
    """Tell the operator, cable by cable, the swap onto the standby line (or back); return
    it for the record. The swap is symmetric: back is the same two moves undone."""
    primary, standby = line(ctx, "primary"), line(ctx, "standby")
    first, second = port_label(ctx, primary), port_label(ctx, standby)
    items = [
        Text(
            zh=f"找到主线路 {primary.name}（{primary.carrier}）所在端口：{first}",
            en=f"Find the primary line {primary.name} ({primary.carrier}): {first}",
        ),
        Text(
            zh=f"找到备用线路 {standby.name}（{standby.carrier}）所在端口：{second}",
            en=f"Find the standby line {standby.name} ({standby.carrier}): {second}",
        ),
        Text(
            zh=f"拔下两根网线，把原在 {first} 的网线插入 {second}，原在 {second} 的网线插入 "
            f"{first}" + ("（换回原位）" if back else ""),
            en=f"Unplug both cables; put the one from {first} into {second} and the one from "
            f"{second} into {first}" + (" (back where they were)" if back else ""),
        ),
        Text(
            zh="确认两个端口的连接指示灯都亮起",
            en="Check that the link light of both ports is on",
        ),
    ]
    for number, item in enumerate(items, start=1):
        ctx.note(Text(zh=f"{number}. {item.zh}", en=f"{number}. {item.en}"))
    return [{"step": str(n), "en": t.en, "zh": t.zh} for n, t in enumerate(items, start=1)]


def ports_in_use(ctx: StepContext, *, on_standby: bool) -> list[tuple[str, str]]:
    """The (switch, port) pairs the branch's traffic crosses, for a switch-view check."""
    primary, standby = line(ctx, "primary"), line(ctx, "standby")
    if not on_standby:
        return [(primary.switch, primary.port)]
    ports = [(standby.switch, standby.port)]
    if not swap_by_hand(ctx) and primary.cross_connect_port:
        ports.append((primary.switch, primary.cross_connect_port))
    return ports


def branch_verdict(ctx: StepContext, *, on_standby: bool) -> Verdict:
    """Whether the branch reaches the pair's service, by the site's `check:`."""
    url = ctx.inventory.pair(ctx.params["pair"]).service_url
    if url is None:
        raise StepFailed(f"host pair {ctx.params['pair']} has no service_url to check")
    return _branch_checks.check_branch(
        ctx,
        ctx.params["branch"],
        str(url),
        default_command=ctx.params["probe_command"],
        ports=ports_in_use(ctx, on_standby=on_standby),
    )


def checked_by_person(ctx: StepContext) -> bool:
    return _branch_checks.by_person(ctx, ctx.params["branch"])


def checked_automatically(ctx: StepContext) -> bool:
    return not checked_by_person(ctx)


# ---- the steps a person does, added to a runbook in the order they run ----------------

CONFIRM_LINE_FAULT = Text(
    zh="该交换机不受管理，无法远程读取端口。请现场查看：交换机通电、指示灯正常，主线路端口"
    "的连接灯灭或运营商确认线路中断，即为线路故障，确认本步。若交换机本身无电或死机，"
    "为设备故障：不要确认，中止本次运行并按 switch-failover 预案启用备用设备。",
    en="The switch is not managed, so its ports cannot be read from here. On site: the "
    "switch has power and its lights are normal, and the primary line's port shows no "
    "link light (or the carrier confirms the line is down): that is a line fault, "
    "confirm. If the switch itself is dead, it is a device fault: do not confirm; abort "
    "and bring in the standby device (switch-failover).",
)
CONFIRM_PRIMARY_STABLE = Text(
    zh="该交换机不受管理，无法远程观察主线路。请向运营商确认线路已修复，并在一段时间内"
    "保持稳定（不是一次 ping 通），然后确认本步。",
    en="The switch is not managed, so the primary line cannot be watched from here. "
    "Confirm with the carrier that the line is repaired and has stayed stable for a "
    "while (not one ping), then confirm here.",
)
_SWAP = Text(
    zh="按上一步“换线清单”逐条操作：核对端口标签，交换两根网线，确认两个端口连接灯亮起，"
    "然后确认本步。",
    en="Follow the checklist of the previous step item by item: check the port labels, "
    "swap the two cables, see both link lights on, then confirm.",
)
_SWAP_BACK = Text(
    zh="按上一步“换回清单”逐条操作：核对端口标签，把两根网线换回原位，确认两个端口连接灯"
    "亮起，然后确认本步。",
    en="Follow the checklist of the previous step: check the port labels, put the two "
    "cables back where they were, see both link lights on, then confirm.",
)
_BRANCH_CONFIRMS = Text(
    zh="按上一步的说明，请网点人员确认可以正常使用征信系统；确认后记录业务恢复。"
    "如果仍不能使用，不要确认：中止并排查线路。",
    en="As the previous step says, have the person at the branch confirm that the credit "
    "system works for them; confirming records the service as restored. If it still does "
    "not work, do not confirm: abort and look at the line.",
)


def add_swap_by_hand(rb: Runbook, *, back: bool, when: Condition) -> None:
    """The checklist (an action, so its port labels are journaled) and the person's
    confirmation that the two cables are swapped."""
    suffix = "-back" if back else ""

    def list_the_moves(ctx: StepContext) -> dict[str, object]:
        return {"by_hand": True, "checklist": checklist(ctx, back=back)}

    rb.action(
        f"swap{suffix}-checklist",
        when=when,
        title=Text(zh="换回清单（按端口标签）", en="The cable swap back, by port labels")
        if back
        else Text(zh="换线清单（按端口标签）", en="The cable swap, by port labels"),
    )(list_the_moves)
    rb.manual(
        f"swap-cables{suffix}-by-hand",
        when=when,
        destructive=True,
        title=Text(zh="人工换回1号口网线", en="Swap the port-1 cables back by hand")
        if back
        else Text(zh="人工交换资金网/非资金网1号口网线", en="Swap the port-1 cables by hand"),
        instructions=_SWAP_BACK if back else _SWAP,
    )


def add_person_check(rb: Runbook) -> None:
    """Where the branch's `check:` is a person: what to ask them, then their answer."""

    def ask_the_branch(ctx: StepContext) -> dict[str, str]:
        text = _branch_checks.person_instructions(ctx, ctx.params["branch"])
        ctx.note(text)
        return {"check": "person", "en": text.en}

    rb.action(
        "ask-the-branch",
        when=checked_by_person,
        title=Text(zh="请网点人员验证业务", en="Ask the branch to check the service"),
    )(ask_the_branch)
    rb.manual(
        "branch-confirms-service",
        when=checked_by_person,
        title=Text(zh="网点人员确认业务已恢复", en="The branch confirms the service works"),
        instructions=_BRANCH_CONFIRMS,
    )


@dataclass(frozen=True)
class SwapPorts:
    """The two ports of a line's cable swap and the domain the branch's traffic is in."""

    switch: str
    port: str
    cross_connect_port: str
    domain: str


def swap_ports(line: Line) -> SwapPorts:
    if not line.cross_connect_port or not line.domain:
        raise StepFailed(
            f"line {line.name} has no cross_connect_port / domain in the inventory: "
            "the cable swap needs both"
        )
    return SwapPorts(line.switch, line.port, line.cross_connect_port, line.domain)
