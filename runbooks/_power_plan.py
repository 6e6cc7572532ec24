"""What the power runbooks will touch, for `dr plan`: the UPS through its NUT server, the
generator's Modbus coils, and the hosts shut down in priority order with the command each
gets. The Modbus addresses are those of the controller's map (transports/genset.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.text import Text
from orchestrator.transports.genset import COIL_GENERATOR_BREAKER, COIL_MAINS_BREAKER, COIL_START
from runbooks._power import DRILL_SHUTDOWN, PRODUCTION_SHUTDOWN, shutdown_command

if TYPE_CHECKING:
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Generator, Host, Inventory, Ups
    from orchestrator.runbook import Runbook

_GENERATOR_READ = "read coils 0-2, discrete inputs 0-2, input and holding registers"


def _ups(plan: PlanContext) -> Ups | None:
    name = plan.params.get("ups") or ""
    units = plan.inventory.power.ups
    return next((u for u in units if u.name == name or not name), None)


def _generator(plan: PlanContext) -> Generator | None:
    name = plan.params.get("generator") or ""
    units = plan.inventory.power.generators
    return next((g for g in units if g.name == name or not name), None)


def read_ups(plan: PlanContext) -> None:
    ups = _ups(plan)
    if ups is not None:
        plan.ups(ups.name, f"LIST VAR {ups.ups_name}", changes=False)


def read_generator(plan: PlanContext) -> None:
    gen = _generator(plan)
    if gen is not None:
        plan.generator(gen.name, _GENERATOR_READ, changes=False)


def read_both(plan: PlanContext) -> None:
    read_ups(plan)
    read_generator(plan)


def _coil(plan: PlanContext, coil: int, value: bool, what: Text) -> None:
    gen = _generator(plan)
    if gen is not None:
        plan.generator(gen.name, _GENERATOR_READ, f"write coil {coil} = {int(value)}", note=what)


def open_mains_breaker(plan: PlanContext) -> None:
    _coil(plan, COIL_MAINS_BREAKER, False, Text("断开市电断路器", "open the mains breaker"))


def start_generator(plan: PlanContext) -> None:
    _coil(
        plan,
        COIL_START,
        True,
        Text("启动发电机（已在运行则不再启动）", "start the generator (unless it runs already)"),
    )


def connect_loads(plan: PlanContext) -> None:
    _coil(
        plan,
        COIL_GENERATOR_BREAKER,
        True,
        Text("发电机稳定后合上发电机断路器", "close the generator breaker once stable"),
    )


def in_shutdown_order(inventory: Inventory, ups: Ups) -> list[Host]:
    """The hosts `ups` feeds, in the order power-outage shuts them down."""
    hosts = [inventory.host(name) for name in ups.protects]
    # Ascending priority; hosts without one go last, as the least known.
    return sorted(
        hosts,
        key=lambda h: (h.shutdown_priority is None, h.shutdown_priority or 0, h.name),
    )


def shutdown_hosts(plan: PlanContext) -> None:
    """Each protected host in ascending shutdown_priority, with the command it gets."""
    ups = _ups(plan)
    if ups is not None and not ups.protects:
        plan.need(ups, "protects", "the shutdown needs the hosts this UPS feeds")
    drill = plan.inventory.environment == "drill"
    template = plan.params.get("shutdown_command") or (
        DRILL_SHUTDOWN if drill else PRODUCTION_SHUTDOWN
    )
    hosts = in_shutdown_order(plan.inventory, ups) if ups is not None else []
    for number, host in enumerate(hosts, 1):
        note = Text(
            f"第 {number} 台（shutdown_priority {host.shutdown_priority}），逐台关机",
            f"{number}. (shutdown_priority {host.shutdown_priority}), one at a time",
        )
        plan.ssh(host, shutdown_command(template, host), note=note)


def open_generator_breaker(plan: PlanContext) -> None:
    _coil(
        plan, COIL_GENERATOR_BREAKER, False, Text("断开发电机断路器", "open the generator breaker")
    )


def close_mains_breaker(plan: PlanContext) -> None:
    _coil(
        plan,
        COIL_MAINS_BREAKER,
        True,
        Text(
            "发电机断路器断开后合上市电断路器",
            "close the mains breaker once the generator's is open",
        ),
    )


def stop_generator(plan: PlanContext) -> None:
    _coil(plan, COIL_START, False, Text("停止发电机", "stop the generator"))


def switch_to_bypass(plan: PlanContext) -> None:
    ups = _ups(plan)
    if ups is None:
        return
    variable = str(plan.params.get("bypass_variable") or "")
    command = (
        f"SET VAR {ups.ups_name} {variable} on"
        if variable
        else f"INSTCMD {ups.ups_name} bypass.start"
    )
    login = (
        Text(
            f"以 {ups.username} 登录，密码取自 {ups.password}",
            f"logged in as {ups.username}, password {ups.password}",
        )
        if ups.username
        else Text("无需登录", "logged in without a login")
    )
    plan.ups(ups.name, command, note=login)


_HOOKS: dict[tuple[str, str], Callable[[PlanContext], None]] = {
    ("power-outage", "confirm-on-battery"): read_ups,
    ("power-outage", "estimate-runtime"): read_ups,
    ("power-outage", "wait-for-mains"): read_ups,
    ("power-outage", "open-mains-breaker"): open_mains_breaker,
    ("power-outage", "mains-disconnected"): read_both,
    ("power-outage", "start-generator"): start_generator,
    ("power-outage", "generator-stable"): read_both,
    ("power-outage", "connect-loads"): connect_loads,
    ("power-outage", "loads-supplied"): read_both,
    ("power-outage", "shutdown-hosts"): shutdown_hosts,
    ("power-restore", "generator-in-use"): read_generator,
    ("power-restore", "mains-stable"): read_ups,
    ("power-restore", "open-generator-breaker"): open_generator_breaker,
    ("power-restore", "close-mains-breaker"): close_mains_breaker,
    ("power-restore", "on-mains"): read_both,
    ("power-restore", "generator-cooldown"): read_generator,
    ("power-restore", "stop-generator"): stop_generator,
    ("ups-fault", "read-alarm"): read_ups,
    ("ups-fault", "bypass-in-range"): read_ups,
    ("ups-fault", "switch-to-bypass"): switch_to_bypass,
    ("ups-fault", "bypass-supplies"): read_ups,
}


def attach(runbook: Runbook) -> None:
    """Give a power runbook's steps their plan hooks, by step id."""
    for step in runbook.steps:
        hook = _HOOKS.get((runbook.name, step.id))
        if hook is not None:
            step.plan(hook)
