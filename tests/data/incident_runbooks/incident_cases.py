"""A runbook that declares an alert level and then needs the leadership's approval."""

from __future__ import annotations

from typing import Any

from orchestrator.runbook import Runbook
from orchestrator.text import Text

core_host_down = Runbook(
    "core-host-down",
    title=Text(zh="核心主机故障", en="Core host down"),
)


@core_host_down.action("declare-orange")
def declare_orange(ctx: Any) -> None:
    ctx.set_alert_level(
        "orange", "equipment", Text(zh="一台核心主机故障", en="one core host failed")
    )


core_host_down.approval(
    "plan-approved", title=Text(zh="领导小组批准方案", en="Leadership approves")
)


@core_host_down.action("carry-out-plan")
def carry_out(ctx: Any) -> None:
    ctx.remember("plan", "carried out")
