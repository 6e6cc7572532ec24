"""Runbooks attached to incidents: one declares an alert level and then needs the
leadership's approval; one fails (a failed run starts the immediate report)."""

from __future__ import annotations

from typing import Any

from orchestrator.errors import StepFailed
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


standby_check = Runbook(
    "standby-check-fails",
    title=Text(zh="备机检查(失败)", en="Standby check (fails)"),
)


@standby_check.action("standby-ready")
def standby_ready(ctx: Any) -> None:
    # What a real check says when replication stopped: the run fails here.
    raise StepFailed("the standby is not ready: replication stopped at 0/3000060")
