"""What rebuild-standby will touch, for `dr plan` and for the confirmation before its
destructive steps: the host it rebuilds (the one check-pair finds is not the primary)
and the primary it follows. During a run these come from check-pair's facts; before
one, the plan assumes the declared primary is the old one to rebuild, and says so.

The commands are the ones the steps send, built by the same functions (`_dual_host`,
`_standby`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks._standby import follow_command

if TYPE_CHECKING:
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Host, HostPair
    from orchestrator.runbook import Runbook


_NOTHING_ASSUMED = Text("", "")


def _joined(*notes: Text) -> Text:
    """Notes said one after another, in each language; empty ones left out."""
    return Text("；".join(n.zh for n in notes if n.zh), "; ".join(n.en for n in notes if n.en))


def _roles(plan: PlanContext) -> tuple[HostPair, Host, Host, Text] | None:
    """The pair, the host to rebuild, the primary it will follow, and what is assumed."""
    wanted = str(plan.params.get("pair") or "")
    pair = next((p for p in plan.inventory.host_pairs if p.name == wanted or not wanted), None)
    if pair is None:
        return None  # the parameter check has said so already
    target = plan.facts.get("rebuild_target")
    primary = plan.facts.get("rebuild_primary")
    if target and primary:
        return pair, plan.inventory.host(target), plan.inventory.host(primary), _NOTHING_ASSUMED
    assumed = Text(
        f"假定 {pair.primary} 是待重建的原主机、{pair.standby} 正在提供服务"
        "（check-pair 步骤读取实际情况）",
        f"assuming {pair.primary} is the old primary to rebuild and {pair.standby} serves "
        "(check-pair reads it)",
    )
    return pair, plan.inventory.host(pair.primary), plan.inventory.host(pair.standby), assumed


def stop_target(plan: PlanContext) -> None:
    found = _roles(plan)
    if found is not None:
        pair, target, _, assumed = found
        plan.ssh(
            target,
            pair_ops.control(pair, "service_stop", target),
            pair_ops.control(pair, "db_stop", target),
            note=_joined(Text("仅在其运行时执行", "each only if it runs"), assumed),
        )


def checkpoint_primary(plan: PlanContext) -> None:
    found = _roles(plan)
    if found is not None:
        pair, _, primary, assumed = found
        plan.ssh(primary, pair_ops.control(pair, "db_checkpoint", primary), note=assumed)


def rewind(plan: PlanContext) -> None:
    _follow(
        plan,
        "db_rewind",
        Text(
            "用 pg_rewind 将 {target} 的数据库集簇追平到 {primary} 的时间线",
            "rewinds {target}'s cluster onto {primary}'s timeline",
        ),
    )


def base_backup(plan: PlanContext) -> None:
    _follow(
        plan,
        "db_base_backup",
        Text(
            "用 {primary} 的数据库副本替换 {target} 的数据库集簇",
            "replaces {target}'s database cluster by a copy of {primary}'s",
        ),
    )


def _follow(plan: PlanContext, control: str, said: Text) -> None:
    """A step that makes the rebuilt host follow the primary by `control`."""
    found = _roles(plan)
    if found is not None:
        pair, target, primary, assumed = found
        names = {"target": target.name, "primary": primary.name}
        what = Text(said.zh.format(**names), said.en.format(**names))
        plan.ssh(
            target, follow_command(pair, control, target, primary), note=_joined(what, assumed)
        )


def start_standby(plan: PlanContext) -> None:
    found = _roles(plan)
    if found is not None:
        pair, target, _, assumed = found
        plan.ssh(target, pair_ops.control(pair, "db_start", target), note=assumed)


_HOOKS: dict[str, Callable[[PlanContext], None]] = {
    "stop-target": stop_target,
    "checkpoint-primary": checkpoint_primary,
    "rewind": rewind,
    "base-backup": base_backup,
    "start-standby": start_standby,
}


def attach(runbook: Runbook) -> None:
    """Give rebuild-standby's steps their plan hooks, by step id."""
    runbook.plan_by_id(_HOOKS)
