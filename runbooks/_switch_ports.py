"""What switch-failover and switch-failback read from the inventory: the failed switch,
its standby, the cable moves port by port, and the branches behind the switch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import HostKeyRejected, StepFailed, TransportError
from orchestrator.runbook import Runbook, Verdict
from orchestrator.text import Text
from runbooks import _branch_checks

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Switch
    from orchestrator.transports.netdev import PortStatus


@dataclass(frozen=True)
class CableMove:
    """One cable: out of `port` of one switch, into the port of the same name of the other;
    `domain` is what the port forwards for in service (None: it stays detached)."""

    port: str
    purpose: str
    domain: str | None


def switches(ctx: StepContext) -> tuple[Switch, Switch]:
    """(the switch the run is about, its standby), or StepFailed naming what is missing."""
    switch = ctx.inventory.switch(ctx.params["switch"])
    if switch.standby is None:
        raise StepFailed(
            Text(
                zh=f"资产清单中交换机 {switch.name} 没有备用交换机：切换前请为它加上 "
                "`standby: NAME`（并登记备用交换机，列出相同的端口）",
                en=f"switch {switch.name} has no standby in the inventory; add `standby: NAME` "
                "to it (and the standby switch, listing the same ports) before a switch failover",
            )
        )
    return switch, ctx.inventory.switch(switch.standby)


def cable_moves(switch: Switch) -> list[CableMove]:
    return [
        CableMove(str(port), purpose, switch.port_domains.get(port))
        for port, purpose in switch.ports.items()
    ]


def cable_plan(ctx: StepContext, source: str, destination: str) -> list[dict[str, str]]:
    """Tell the operator, port by port, which cable goes where; return it for the record."""
    switch, _ = switches(ctx)
    moves = cable_moves(switch)
    if not moves:
        raise StepFailed(
            Text(
                zh=f"资产清单中交换机 {switch.name} 没有列出端口，无法给出换线方案："
                "请列出它的端口（端口：所接设备）",
                en=f"switch {switch.name} lists no ports in the inventory: there is no cable "
                "plan to give; list its ports (port: what is cabled to it)",
            )
        )
    for move in moves:
        ctx.note(
            Text(
                zh=f"把 {source} 的 {move.port} 口网线（{move.purpose}）移到 "
                f"{destination} 的 {move.port} 口",
                en=f"Move the cable in {source} port {move.port} ({move.purpose}) to "
                f"{destination} port {move.port}",
            )
        )
    return [{"from": f"{source} {m.port}", "to": f"{destination} {m.port}"} for m in moves]


def read_ports(ctx: StepContext, name: str) -> dict[str, PortStatus] | None:
    """Every port of switch `name` by name, or None when its management does not answer."""
    try:
        return {status.name: status for status in ctx.switch(name).ports()}
    except HostKeyRejected:
        raise  # a refused key is not a dead switch: stop the run
    except TransportError:
        return None


def in_service_ports(switch: Switch) -> list[CableMove]:
    return [move for move in cable_moves(switch) if move.domain is not None]


def carrier_verdict(ports: dict[str, PortStatus], moves: list[CableMove], name: str) -> Verdict:
    """Carrier on every port that will forward: a dark one is a cable not (yet) in place."""
    dark = [m.port for m in moves if m.port not in ports or not ports[m.port].link_up]
    if dark:
        return Verdict(
            False,
            Text(
                zh=f"交换机 {name} 端口 {'、'.join(dark)} 无载波：请检查每根线缆是否插在"
                "正确的端口上、插牢，对端设备是否已上电",
                en=f"no carrier on {name} port(s) {', '.join(dark)}: check that each cable is "
                "seated in the right port (and its far end is powered)",
            ),
        )
    return Verdict(
        True,
        Text(
            zh=f"交换机 {name} 的 {len(moves)} 个在用端口均有载波",
            en=f"carrier on all {len(moves)} in-service port(s) of {name}",
        ),
    )


def configured(ports: dict[str, PortStatus] | None, switch: Switch, active: bool) -> bool:
    """Whether every port of `switch`'s plan forwards for its domain (active) or is
    detached, judged by what each port forwards, whatever its link type."""
    if ports is None:
        return False
    for move in cable_moves(switch):
        status = ports.get(move.port)
        if status is None:
            return False
        if active and move.domain is not None:
            if not status.forwards(move.domain):
                return False
        elif not status.detached:
            return False
    return True


def branch_sites(ctx: StepContext, switch: Switch) -> list[str]:
    """The sites whose lines end on `switch`: the branches a switch failure cuts off."""
    return sorted({line.site for line in ctx.inventory.lines if line.switch == switch.name})


def branches_reach_service(ctx: StepContext, *, on_standby: bool = True) -> Verdict:
    """Every branch behind the switch reaches the service, each by its site's `check:`
    (_branch_checks.py). Branches that only a person can confirm are named in the result
    for the operator to call; the automatic checks decide the verdict."""
    switch, standby = switches(ctx)
    url = ctx.inventory.pair(ctx.params["pair"]).service_url
    if url is None:
        pair = ctx.params["pair"]
        raise StepFailed(
            Text(
                zh=f"主备对 {pair} 没有可供检查的 service_url",
                en=f"host pair {pair} has no service_url to check",
            )
        )
    sites = branch_sites(ctx, switch)
    if not sites:
        raise StepFailed(
            Text(
                zh=f"资产清单中没有线路接在交换机 {switch.name} 上，没有网点可以验证业务："
                "请检查各线路的 `switch` 字段",
                en=f"no line in the inventory ends on {switch.name}, so no branch can confirm "
                "the service; check the lines' `switch` fields",
            )
        )
    carrying = standby.name if on_standby else switch.name
    by_person = [site for site in sites if _branch_checks.by_person(ctx, site)]
    failing: list[Text] = []
    for site in sites:
        if site in by_person:
            continue
        # The standby takes each cable in the port of the same name.
        ports = [
            (carrying, line.port)
            for line in ctx.inventory.lines
            if line.site == site and line.switch == switch.name
        ]
        verdict = _branch_checks.check_branch(
            ctx, site, str(url), default_command=ctx.params["probe_command"], ports=ports
        )
        if not verdict.ok:
            failing.append(
                Text(
                    zh=f"网点 {site}：{verdict.sentence('zh')}",
                    en=f"{site}: {verdict.sentence('en')}",
                )
            )
    ask = f"; to confirm by phone: {', '.join(by_person)}" if by_person else ""
    ask_zh = f"；需电话确认的网点：{'、'.join(by_person)}" if by_person else ""
    if failing:
        return Verdict(
            False,
            Text(
                zh="；".join(f.zh for f in failing) + ask_zh,
                en="; ".join(f.en for f in failing) + ask,
            ),
        )
    checked = len(sites) - len(by_person)
    return Verdict(
        True,
        Text(
            zh=f"{checked} 个网点可以访问 {url}{ask_zh}",
            en=f"{checked} branch(es) reach {url}{ask}",
        ),
    )


def person_checked_sites(ctx: StepContext) -> list[str]:
    """The branches behind the failed switch that only a person there can confirm."""
    switch, _ = switches(ctx)
    return [site for site in branch_sites(ctx, switch) if _branch_checks.by_person(ctx, site)]


def add_branch_confirmations(rb: Runbook) -> None:
    """After the automatic checks: what to ask each person-checked branch, then the
    operator's confirmation that every one of them answered that the service works."""

    def ask_the_branches(ctx: StepContext) -> dict[str, object]:
        asked = person_checked_sites(ctx)
        for site in asked:
            ctx.note(_branch_checks.person_instructions(ctx, site))
        return {"check": "person", "branches": asked}

    rb.action(
        "ask-the-branches",
        when=lambda ctx: bool(person_checked_sites(ctx)),
        title=Text(zh="请网点人员验证业务", en="Ask the branches to check the service"),
    )(ask_the_branches)
    rb.manual(
        "branches-confirm-service",
        when=lambda ctx: bool(person_checked_sites(ctx)),
        title=Text(zh="网点人员确认业务已恢复", en="The branches confirm the service works"),
        instructions=Text(
            zh="按上一步所列，逐个致电这些网点，请工作人员确认可以正常使用征信系统。"
            "全部网点确认后再确认本步；有网点仍不能使用时不要确认：中止并排查。",
            en="Call each branch the previous step lists and have its staff confirm that the "
            "credit system works for them. Confirm here once every one of them has; if any "
            "still cannot use it, do not confirm: abort and investigate.",
        ),
    )
