"""What switch-failover and switch-failback will touch, for `dr plan`: the failed switch
and its standby (both read), the cable moves a person makes, and the CLI lines that put
each port of the plan in service or standing by, in the order `_apply_plan` sends them
(detaches first). The inventory must name the standby and list the ports."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.text import Text
from runbooks._switch_ports import cable_moves

if TYPE_CHECKING:
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Switch
    from orchestrator.runbook import Runbook


_CARRIER = Text("各在用端口的载波", "carrier on each in-service port")


def _switches(plan: PlanContext) -> tuple[Switch, Switch] | None:
    switch = plan.inventory.switch(str(plan.params["switch"]))
    if switch.standby is None:
        plan.need(switch, "standby", f"a switch failover needs the standby of {switch.name}")
        return None
    if not switch.ports:
        plan.need(switch, "ports", f"the cable plan lists {switch.name}'s ports (port: purpose)")
        return None
    return switch, plan.inventory.switch(switch.standby)


def read_both(plan: PlanContext) -> None:
    found = _switches(plan)
    if found is not None:
        for device in found:
            plan.switch(
                device.name,
                "read",
                note=Text("各端口的载波与配置", "the ports' carrier and configuration"),
            )


def read_standby(plan: PlanContext) -> None:
    found = _switches(plan)
    if found is not None:
        plan.switch(found[1].name, "read", note=_CARRIER)


def read_repaired(plan: PlanContext) -> None:
    found = _switches(plan)
    if found is not None:
        plan.switch(found[0].name, "read", note=_CARRIER)


def _cables(plan: PlanContext, *, back: bool) -> None:
    found = _switches(plan)
    if found is not None:
        switch, standby = found
        source, destination = (standby, switch) if back else (switch, standby)
        plan.person(
            *(
                Text(
                    f"把 {source.name} {m.port} 上的网线移到 {destination.name} {m.port}",
                    f"move the cable in {source.name} {m.port} to {destination.name} {m.port}",
                )
                for m in cable_moves(switch)
            )
        )


def cables_to_standby(plan: PlanContext) -> None:
    _cables(plan, back=False)


def cables_back(plan: PlanContext) -> None:
    _cables(plan, back=True)


def _apply(plan: PlanContext, device: str, active: bool) -> None:
    found = _switches(plan)
    if found is None:
        return
    moves = cable_moves(found[0])
    serving = [m for m in moves if active and m.domain is not None]
    for move in moves:
        if move not in serving:
            domain = None if move.domain is None else str(move.domain)
            plan.switch(device, "detach", move.port, domain)
    for move in serving:
        plan.switch(device, "enable", move.port)
        plan.switch(device, "attach", move.port, str(move.domain))
    plan.switch(device, "save")


def configure_standby(plan: PlanContext) -> None:
    found = _switches(plan)
    if found is not None:
        _apply(plan, found[1].name, active=True)


def configure_repaired(plan: PlanContext) -> None:
    found = _switches(plan)
    if found is not None:
        _apply(plan, found[0].name, active=True)


def release_standby(plan: PlanContext) -> None:
    found = _switches(plan)
    if found is not None:
        _apply(plan, found[1].name, active=False)


_HOOKS: dict[tuple[str, str], Callable[[PlanContext], None]] = {
    ("switch-failover", "diagnose"): read_both,
    ("switch-failover", "move-cables"): cables_to_standby,
    ("switch-failover", "standby-carrier"): read_standby,
    ("switch-failover", "configure-standby"): configure_standby,
    ("switch-failback", "repaired-switch-up"): read_repaired,
    ("switch-failback", "configure-repaired-switch"): configure_repaired,
    ("switch-failback", "move-cables-back"): cables_back,
    ("switch-failback", "repaired-switch-carrier"): read_repaired,
    ("switch-failback", "standby-to-standby"): release_standby,
}


def attach(runbook: Runbook) -> None:
    """Give a switch runbook's steps their plan hooks, by step id."""
    for step in runbook.steps:
        hook = _HOOKS.get((runbook.name, step.id))
        if hook is not None:
            step.plan(hook)
