"""The power-restore runbook: from the generator back to mains, in the safe order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _power_plan as power_plan
from runbooks import _power_words as words
from runbooks._alert_levels import declare
from runbooks._power import (
    DEVICES,
    RANGE,
    genset_status,
    input_in_range,
    the_generator,
    ups_reading,
)

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext


restore = Runbook(
    "power-restore",
    title=Text(zh="由发电机切回市电", en="Back from the generator to the mains"),
    description=Text(
        zh="市电恢复并稳定后：断开发电机开关、合上市电开关、冷机后停发电机。",
        en="Once the mains is back and stable: open the generator breaker, close the mains "
        "breaker, let the generator cool down, stop it.",
    ),
    system="power",
    params={
        **DEVICES,
        **RANGE,
        "mains_stable_for": Param(60.0, "seconds the mains must stay in range first"),
        "cooldown": Param(300.0, "seconds the generator runs unloaded before it stops"),
    },
)


@restore.check(
    "generator-in-use",
    timeout="30s",
    title=Text(zh="确认当前由发电机或电池供电", en="Confirm we are off the mains"),
)
def generator_in_use(ctx: StepContext) -> Verdict:
    status = genset_status(ctx)
    if status.mains_breaker_closed and not status.start_commanded:
        return Verdict(
            False,
            Text(
                zh="市电开关已合闸、发电机未运行：当前已由市电供电",
                en="the mains breaker is closed and the generator stopped: on mains",
            ),
        )
    declare(ctx, "mains-returned")
    mains = words.breaker("mains", status.mains_breaker_closed)
    generator = words.breaker("generator", status.generator_breaker_closed)
    return Verdict(True, Text(zh=f"{mains.zh}，{generator.zh}", en=f"{mains.en}, {generator.en}"))


restore.manual(
    "confirm-mains-back",
    title=Text(zh="确认市电已恢复", en="Confirm the mains is back"),
    instructions=Text(
        zh="与供电公司确认已恢复供电、不会再次停电，确认后继续。",
        en="Confirm with the power company that supply is restored and stays on, then go on.",
    ),
)


# The UPS's input meter stands for the mains side here (as the lab wires it).
@restore.wait_until(
    "mains-stable",
    timeout="2h",
    interval="1s",
    hold="{mains_stable_for}s",
    title=Text(zh="等待市电稳定", en="Wait until the mains is stable"),
)
def mains_stable(ctx: StepContext) -> Verdict:
    return input_in_range(ctx, ups_reading(ctx))


restore.mark_service_lost(
    title=Text(zh="切换开始（UPS 承载负载）", en="Changeover begins (the UPS carries the load)")
)


@restore.action(
    "open-generator-breaker",
    timeout="30s",
    destructive=True,
    check_first=True,
    title=Text(zh="断开发电机开关", en="Open the generator breaker"),
)
def open_generator_breaker(ctx: StepContext) -> None:
    with ctx.generator(the_generator(ctx).name) as gen:
        gen.open_generator_breaker()


@open_generator_breaker.verify
def generator_breaker_open(ctx: StepContext) -> Verdict:
    closed = genset_status(ctx).generator_breaker_closed
    return Verdict(not closed, words.breaker("generator", closed))


@restore.action(
    "close-mains-breaker",
    timeout="30s",
    destructive=True,
    check_first=True,
    title=Text(zh="合上市电开关", en="Close the mains breaker"),
)
def close_mains_breaker(ctx: StepContext) -> None:
    with ctx.generator(the_generator(ctx).name) as gen:
        if gen.status().generator_breaker_closed:
            raise StepFailed(
                Text(
                    zh="拒绝合市电开关：发电机开关处于合闸状态；市电与发电机绝不能同时接入",
                    en="refusing to close the mains breaker: the generator breaker is closed; "
                    "mains and generator must never be connected together",
                )
            )
        gen.close_mains_breaker()


@close_mains_breaker.verify
def mains_breaker_closed(ctx: StepContext) -> Verdict:
    closed = genset_status(ctx).mains_breaker_closed
    return Verdict(closed, words.breaker("mains", closed))


@restore.wait_until(
    "on-mains",
    timeout="60s",
    interval="1s",
    hold="2s",
    title=Text(zh="验证由市电供电", en="Verify the mains supplies the loads"),
)
def on_mains(ctx: StepContext) -> Verdict:
    status = genset_status(ctx)
    reading = ups_reading(ctx)
    ok = status.mains_breaker_closed and not status.generator_breaker_closed and reading.on_line
    shown = " ".join(sorted(reading.status))
    return Verdict(ok, Text(zh=f"UPS 状态 {shown}", en=f"UPS {shown}"))


restore.mark_service_restored(title=Text(zh="已回到市电", en="Back on the mains"))


@restore.wait_until(
    "generator-cooldown",
    timeout="2h",
    interval="1s",
    hold="{cooldown}s",
    title=Text(zh="发电机空载冷机", en="Let the generator cool down unloaded"),
)
def generator_cooldown(ctx: StepContext) -> Verdict:
    # Held by the engine, so a pause during the cool-down pauses it instead of cutting it.
    status = genset_status(ctx)
    return Verdict(
        not status.generator_breaker_closed,
        Text(zh="发电机空载运行", en="running unloaded")
        if not status.generator_breaker_closed
        else Text(zh="发电机开关仍合闸，仍带负载", en="generator breaker still closed: loaded"),
    )


@restore.action(
    "stop-generator",
    timeout="30s",
    check_first=True,
    title=Text(zh="停止发电机", en="Stop the generator"),
)
def stop_generator(ctx: StepContext) -> None:
    with ctx.generator(the_generator(ctx).name) as gen:
        gen.stop()


@stop_generator.verify
def generator_stopped(ctx: StepContext) -> Verdict:
    status = genset_status(ctx)
    stopped = not status.start_commanded and not status.running
    return Verdict(
        stopped,
        Text(zh="发电机已停机", en="stopped")
        if stopped
        else Text(zh="发电机仍在运行", en="still running"),
    )


power_plan.attach(restore)  # what `dr plan` shows of each step (_power_plan.py)


# ---- ups-fault --------------------------------------------------------------------------
