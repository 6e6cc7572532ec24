"""The alert level each runbook's situation calls for, as data, in one place.

Every row cites the line of DOMAIN.md's alert-level table (from the seed plans 000 and
001 §3-4) that puts the situation at its level. The time-based escalations (network
blue -> yellow after 4 h with most branches down, and so on) are not here: they depend
on how long an incident lasts, which the incident's own timers follow, not a runbook.

A runbook calls `declare(ctx, "situation", **details)` where it learns the situation;
the level is journaled once per situation and run, so `dr resume` does not repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory.field_types import AlertCategory, AlertLevel


@dataclass(frozen=True)
class AlertRule:
    level: AlertLevel
    category: AlertCategory
    why: str  # the DOMAIN.md row that gives this level
    reason: Text  # what the operator and the record read; {placeholders} from details


ALERT_RULES: dict[str, AlertRule] = {
    "branch-line-down": AlertRule(
        "blue",
        "network",
        "network blue: some lines down, business at some sites stopped",
        Text(
            zh="网点 {branch} 主线路中断，该网点业务中断",
            en="Branch {branch}'s primary line is down; that branch's business is stopped",
        ),
    ),
    "most-branch-lines-down": AlertRule(
        "yellow",
        "network",
        "network yellow: trunk line down (most branches lost their lines at once)",
        Text(
            zh="{down}/{total} 个网点主线路同时中断，疑似干线故障",
            en="{down} of {total} branches lost their primary line at once: likely a trunk fault",
        ),
    ),
    "switch-down": AlertRule(
        "yellow",
        "network",
        "network yellow: aggregation device down",
        Text(
            zh="汇聚交换机 {switch} 故障，所连网点业务中断",
            en="Aggregation switch {switch} failed; the branches behind it are cut off",
        ),
    ),
    "switch-and-standby-down": AlertRule(
        "red",
        "network",
        "network red: primary and standby network devices down",
        Text(
            zh="交换机 {switch} 及其备用设备 {standby} 均不可用",
            en="Switch {switch} and its standby {standby} are both unusable",
        ),
    ),
    "mains-lost": AlertRule(
        "blue",
        "equipment",
        "equipment blue: hardware alarm only (the UPS carries the load, business continues)",
        Text(
            zh="市电中断，UPS {ups} 电池供电，业务继续",
            en="Mains lost; UPS {ups} on battery, business continues",
        ),
    ),
    "core-host-down": AlertRule(
        "orange",
        "equipment",
        "equipment orange: one core host failed",
        Text(
            zh="电池将耗尽，已按序关闭主机：{hosts}",
            en="Battery running out: hosts shut down in order: {hosts}",
        ),
    ),
    "pair-down": AlertRule(
        "red",
        "equipment",
        "equipment red: primary and standby hosts both down",
        Text(
            zh="电池将耗尽，双机主备均已关闭：{hosts}",
            en="Battery running out: primary and standby hosts both shut down: {hosts}",
        ),
    ),
    "ups-fault": AlertRule(
        "yellow",
        "equipment",
        "equipment yellow: peripheral hardware failed, business continues",
        Text(
            zh="UPS {ups} 故障（{alarm}），业务继续",
            en="UPS {ups} failed ({alarm}); business continues",
        ),
    ),
    "mains-returned": AlertRule(
        "blue",
        "equipment",
        "equipment blue: hardware alarm only (loads move back from generator to mains)",
        Text(
            zh="市电恢复，负载由发电机切回市电",
            en="Mains back; loads move from the generator back to the mains",
        ),
    ),
}


def declare(ctx: StepContext, situation: str, **details: object) -> AlertRule:
    """Journal the alert level for `situation` (a key of ALERT_RULES), once per run."""
    rule = ALERT_RULES[situation]
    key = f"alert_level:{situation}"
    if ctx.fact(key) is None:
        values = {name: str(value) for name, value in details.items()}
        reason = Text(zh=rule.reason.zh.format(**values), en=rule.reason.en.format(**values))
        ctx.set_alert_level(rule.level, rule.category, reason)
        ctx.remember(key, rule.level)
    return rule
