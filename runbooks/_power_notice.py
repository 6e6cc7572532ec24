"""The notice `power-outage` sends once the UPS is on battery: who gets it, what it says.

Who: the escalation roster of the level the outage is declared at (`mains-lost`, blue:
the UPS carries the load and business continues), the same people an incident at that
level notifies, through the inventory's channels: email to each of them with an
address, in their language, and every webhook that takes the level. What: which UPS,
since when, what its battery has left, what the runbook does next and what to do
meanwhile, in Chinese and English; a drill says so in the title.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.errors import TransportError
from orchestrator.incidents.messages import roster
from orchestrator.inventory import format_duration
from orchestrator.notify import DeliveryResult, Message
from orchestrator.shown_times import shown_time, zone_of
from orchestrator.text import Text
from runbooks._alert_levels import ALERT_RULES
from runbooks._power import mains_wait, the_ups, ups_reading

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Inventory

SITUATION = "mains-lost"


@dataclass(frozen=True)
class OutageFacts:
    """What the notice reports; the battery figures are None when the UPS cannot be read."""

    run_id: str
    drill: bool
    ups: str
    since: datetime
    status: str | None
    charge_pct: float | None
    runtime_s: float | None
    generator: str | None
    mains_wait_s: float | None


def outage_message(facts: OutageFacts, inventory: Inventory) -> Message:
    level = ALERT_RULES[SITUATION].level
    since = shown_time(facts.since, zone_of(inventory), seconds=False)
    zh_drill, en_drill = ("[演练] ", "[drill] ") if facts.drill else ("", "")
    zh = (
        f"UPS {facts.ups} 自 {since} 起由电池供电。{_battery_zh(facts)}",
        _next_zh(facts),
        "请联系供电公司，询问停电原因和预计恢复时间。",
        f"运行记录：dr runs show {facts.run_id}",
    )
    en = (
        f"UPS {facts.ups} on battery since {since}. {_battery_en(facts)}",
        _next_en(facts),
        "Call the power company for the cause and the expected restoration time.",
        f"The run's record: dr runs show {facts.run_id}",
    )
    return Message(
        key=f"{facts.run_id}:power-outage:notify",
        level=level,
        title=Text(
            zh=f"[dr] {zh_drill}停电：UPS {facts.ups} 电池供电",
            en=f"[dr] {en_drill}Power outage: UPS {facts.ups} on battery",
        ),
        body=Text(zh="\n".join(zh), en="\n".join(en)),
        recipients=roster(inventory, level),
        context={"runbook": "power-outage"},
    )


def outage_facts(ctx: StepContext, since: datetime) -> OutageFacts:
    """Read the UPS for the notice; a UPS that cannot be read must not stop it going out."""
    ups = the_ups(ctx)
    try:
        reading = ups_reading(ctx)
    except TransportError:
        status = charge = runtime = None
    else:
        status = " ".join(sorted(reading.status))
        charge, runtime = reading.charge_pct, reading.runtime_s
    generators = ctx.inventory.power.generators
    return OutageFacts(
        run_id=ctx.run_id,
        drill=ctx.is_drill,
        ups=ups.name,
        since=since,
        status=status,
        charge_pct=charge,
        runtime_s=runtime,
        generator=ctx.params["generator"] or (generators[0].name if generators else None),
        mains_wait_s=mains_wait(ctx) if generators else None,
    )


def tell_the_operator(
    ctx: StepContext, message: Message, results: list[DeliveryResult]
) -> dict[str, list[str]]:
    """Which deliveries went out and which did not, on the operator's screen and in the
    record; for one that failed, the operator is asked to phone instead."""
    sent = [f"{r.channel} {r.recipient}" for r in results if r.ok]
    failed = [f"{r.channel} {r.recipient}: {r.error}" for r in results if not r.ok]
    if sent:
        ctx.note(
            Text(zh=f"已发送停电通知：{'、'.join(sent)}", en=f"Notice sent: {', '.join(sent)}")
        )
    if failed:
        ctx.note(
            Text(
                zh=f"停电通知未送达：{'；'.join(failed)}。请电话通知值班名单。",
                en=f"Notice not delivered: {'; '.join(failed)}. Phone the duty roster.",
            )
        )
    return {"recipients": list(message.recipients), "sent": sent, "failed": failed}


def _battery_zh(facts: OutageFacts) -> str:
    if facts.status is None:
        return "UPS 暂时无法读取，电池余量未知。"
    charge = f"{facts.charge_pct:g}%" if facts.charge_pct is not None else "未知"
    return f"状态 {facts.status}，电量 {charge}，后备时间约 {_runtime(facts) or '未知'}。"


def _battery_en(facts: OutageFacts) -> str:
    if facts.status is None:
        return "The UPS cannot be read right now: battery left unknown."
    charge = f"{facts.charge_pct:g} %" if facts.charge_pct is not None else "unknown"
    runtime = _runtime(facts) or "unknown"
    return f"Status {facts.status}, charge {charge}, about {runtime} of runtime."


def _next_zh(facts: OutageFacts) -> str:
    if facts.generator is None or facts.mains_wait_s is None:
        return "没有发电机：电池电量不足时按优先级正常关机。"
    wait = format_duration(facts.mains_wait_s)
    return f"若 {wait} 内市电未恢复，将启动发电机 {facts.generator}；电池先不足则按优先级正常关机。"


def _next_en(facts: OutageFacts) -> str:
    if facts.generator is None or facts.mains_wait_s is None:
        return "No generator: the hosts shut down in priority order when the battery runs low."
    wait = format_duration(facts.mains_wait_s)
    return (
        f"If the mains is not back within {wait}, generator {facts.generator} is started; "
        "if the battery runs low first, the hosts shut down in priority order."
    )


def _runtime(facts: OutageFacts) -> str | None:
    # Whole minutes: the UPS's own estimate is no finer than that.
    seconds = facts.runtime_s
    if seconds is None:
        return None
    return format_duration(seconds if seconds < 60 else round(seconds / 60) * 60)
