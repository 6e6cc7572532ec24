"""What the dual-host runbooks will touch, for `dr plan`: the pair's hosts, the control
commands from the inventory (`host_pairs[].control`, Debian defaults where left out),
the fencing methods in their order, the VIP commands and the end-to-end probe.

The commands are the ones the steps send, built by the same functions (`_dual_host`).
Steps attach these as their plan hooks (`@step.plan`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.inventory.command_templates import fill
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops

if TYPE_CHECKING:
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Host, HostPair
    from orchestrator.runbook import Runbook


def _pair(plan: PlanContext) -> HostPair | None:
    pairs = plan.inventory.host_pairs
    wanted = str(plan.params.get("pair") or "")
    for pair in pairs:
        if pair.name == wanted or not wanted:
            return pair
    return None  # the parameter check has said so already


def _hosts(plan: PlanContext, pair: HostPair) -> tuple[Host, Host]:
    return plan.inventory.host(pair.primary), plan.inventory.host(pair.standby)


def confirm_failure(plan: PlanContext) -> None:
    pair = _pair(plan)
    if pair is None:
        return
    primary, standby = _hosts(plan, pair)
    plan.ssh(primary, "true", pair_ops.control(pair, "db_status", primary), changes=False)
    port = pair.database.port if pair.database is not None else 5432
    address = pair_ops.database_address(pair, primary)
    plan.ssh(
        standby,
        f"python3 -c '<TCP connect>' {address} {port}",
        note=Text(
            "备机经数据中心局域网看到的主库数据库；脚本从略",
            "the primary's database as the standby sees it (DC LAN); script abbreviated",
        ),
        changes=False,
    )
    for branch in plan.hosts(str(plan.params["branches"])):
        plan.ssh(
            branch,
            f"python3 -c '<GET>' {pair.service_url}",
            note=Text(
                "经 VIP 访问的业务服务；脚本从略", "the service through the VIP; script abbreviated"
            ),
            changes=False,
        )


def check_standby(plan: PlanContext) -> None:
    pair = _pair(plan)
    if pair is not None:
        standby = _hosts(plan, pair)[1]
        plan.ssh(standby, pair_ops.control(pair, "db_status", standby), changes=False)


def fence(plan: PlanContext) -> None:
    """Each method in the inventory's order; the first that holds ends the step."""
    pair = _pair(plan)
    if pair is None:
        return
    primary = _hosts(plan, pair)[0]
    if not pair.fencing:
        plan.need(
            pair, "fencing", "a cutover never promotes without a fence: list at least one method"
        )
    for number, method in enumerate(pair.fencing, 1):
        note = Text(
            f"隔离方式 {number}：{method.method}", f"fencing method {number}: {method.method}"
        )
        if method.method == "ssh":
            plan.ssh(
                primary,
                pair_ops.control(pair, "service_stop", primary),
                pair_ops.control(pair, "db_stop", primary),
                pair_ops.release_vip_command(pair),
                note=note,
            )
        elif method.method == "ups-outlet":
            plan.ups(
                method.ups,
                f"INSTCMD outlet.{method.outlet}.load.off",
                f"(or SET VAR outlet.{method.outlet}.switch off)",
                note=Text(
                    f"{note.zh}：为 {primary.name} 供电的插座",
                    f"{note.en}: the outlet feeding {primary.name}",
                ),
            )
        elif method.method == "command":
            command = fill(method.command, host=primary.name, address=str(primary.address))
            plan.local(command, note=note)
        else:
            plan.person(
                Text(
                    f"断开 {primary.name} 的电源（或拔掉其全部网线）并确认",
                    f"power {primary.name} off (or pull its cables) and confirm",
                ),
                note=note,
            )


def promote(plan: PlanContext) -> None:
    pair = _pair(plan)
    if pair is not None:
        standby = _hosts(plan, pair)[1]
        plan.ssh(standby, pair_ops.control(pair, "db_promote", standby))


def take_vip(plan: PlanContext) -> None:
    pair = _pair(plan)
    if pair is not None:
        plan.ssh(_hosts(plan, pair)[1], pair_ops.take_vip_command(pair), note=_vip(pair.vip))


def start_service(plan: PlanContext) -> None:
    pair = _pair(plan)
    if pair is not None:
        standby = _hosts(plan, pair)[1]
        plan.ssh(standby, pair_ops.control(pair, "service_start", standby))


def end_to_end(plan: PlanContext) -> None:
    pair = _pair(plan)
    if pair is None:
        return
    probe = pair.probe
    branches = plan.hosts(str(plan.params["branches"]))
    what = f"the pair's probe ({probe.kind})"
    if getattr(probe, "vantage", "branches") == "branches" and branches:
        for branch in branches:
            plan.ssh(
                branch,
                f"{what}: {pair.service_url}",
                note=Text("经 VIP 访问", "through the VIP"),
                changes=False,
            )
    else:
        plan.local(f"{what}: {pair.service_url}", note=Text("从本机访问", "from this machine"))


def _vip(vip: object) -> Text:
    return Text(f"接管 VIP {vip}", f"VIP {vip}")


# ---- the planned switchover ------------------------------------------------------------
# Which host is primary is read at run time (check-pair); the plan assumes the declared
# layout, or the move `-p to=` asks for, and says so.


def _switch_hosts(plan: PlanContext) -> tuple[HostPair, Host, Host] | None:
    pair = _pair(plan)
    if pair is None:
        return None
    wanted = str(plan.params.get("to") or "")
    name = {"primary": pair.primary, "standby": pair.standby}.get(wanted, wanted)
    if name and name not in (pair.primary, pair.standby):
        plan.problem(
            f"parameter to={wanted!r}: not a host of pair {pair.name}; use primary, standby, "
            f"{pair.primary} or {pair.standby}",
            "host_pairs",
        )
        return None
    new = plan.inventory.host(name or pair.standby)
    old = plan.inventory.host(pair.standby if new.name == pair.primary else pair.primary)
    return pair, old, new


def _assumed(old: str) -> Text:
    return Text(
        f"假定 {old} 当前为主库（check-pair 步骤读取实际情况）",
        f"assuming {old} is the primary now (check-pair reads it)",
    )


def switchover_check(plan: PlanContext) -> None:
    found = _switch_hosts(plan)
    if found is None:
        return
    pair, old, new = found
    for host in (old, new):
        plan.ssh(host, pair_ops.control(pair, "db_status", host), changes=False)
    plan.ssh(
        old,
        pair_ops.control(pair, "db_replicas", old),
        changes=False,
        note=_assumed(old.name),
    )


def switchover_stop_writes(plan: PlanContext) -> None:
    found = _switch_hosts(plan)
    if found is not None:
        pair, old, _ = found
        plan.ssh(old, pair_ops.control(pair, "service_stop", old), note=_assumed(old.name))


def switchover_stop_old(plan: PlanContext) -> None:
    found = _switch_hosts(plan)
    if found is not None:
        pair, old, _ = found
        plan.ssh(
            old,
            pair_ops.control(pair, "db_stop", old),
            pair_ops.control(pair, "db_controldata", old),
        )


def switchover_caught_up(plan: PlanContext) -> None:
    found = _switch_hosts(plan)
    if found is not None:
        pair, old, new = found
        plan.ssh(old, pair_ops.control(pair, "db_controldata", old), changes=False)
        plan.ssh(new, pair_ops.control(pair, "db_status", new), changes=False)


def switchover_promote(plan: PlanContext) -> None:
    found = _switch_hosts(plan)
    if found is not None:
        pair, _, new = found
        plan.ssh(new, pair_ops.control(pair, "db_promote", new))


def switchover_vip(plan: PlanContext) -> None:
    found = _switch_hosts(plan)
    if found is not None:
        pair, old, new = found
        plan.ssh(old, pair_ops.release_vip_command(pair))
        plan.ssh(new, pair_ops.take_vip_command(pair), note=_vip(pair.vip))


def switchover_start(plan: PlanContext) -> None:
    found = _switch_hosts(plan)
    if found is not None:
        pair, _, new = found
        plan.ssh(new, pair_ops.control(pair, "service_start", new))


_SWITCHOVER: dict[str, Callable[[PlanContext], None]] = {
    "check-pair": switchover_check,
    "stop-writes": switchover_stop_writes,
    "stop-old-primary": switchover_stop_old,
    "standby-has-everything": switchover_caught_up,
    "promote": switchover_promote,
    "move-vip": switchover_vip,
    "start-service": switchover_start,
    "verify-end-to-end": end_to_end,
}


def attach_switchover(runbook: Runbook) -> None:
    """Give dual-host-switchover's steps their plan hooks, by step id."""
    runbook.plan_by_id(_SWITCHOVER)
