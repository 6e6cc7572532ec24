"""The power-outage runbook (seed branch procedure 2).

`power-outage`: the UPS carries the load on battery; if the mains does not return within
`mains_wait`, disconnect the mains input, start the generator, wait until its output has
stayed within tolerance for `stable_for`, and only then connect the loads. If the battery
runs below `low_runtime` before the generator carries the load, the hosts the UPS
protects are shut down gracefully in ascending `shutdown_priority`. Which of the three
ways the run takes (mains returned, generator, shutdown) is the fact `path`, decided by
the waits and read by each later step's `when=`.

Interlocks are kept twice: each step that could connect mains and generator together,
start the generator against the mains, or load an unstable output re-reads the
controller and refuses; the controller itself refuses the first two as well.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed, TransportError
from orchestrator.runbook import Condition, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _power_plan as power_plan
from runbooks import _power_words as words
from runbooks._alert_levels import declare
from runbooks._power import (
    DRILL_SHUTDOWN,
    OUTAGE_PARAMS,
    PRODUCTION_SHUTDOWN,
    RANGE,
    genset_status,
    low_runtime,
    mains_wait,
    output_ok,
    shutdown_command,
    stable_for,
    the_generator,
    the_ups,
    ups_reading,
    utc_now,
)
from runbooks._power_notice import outage_facts, outage_message, tell_the_operator

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host
    from orchestrator.transports.ups import UpsReading


outage = Runbook(
    "power-outage",
    title=Text(zh="市电停电：UPS 与发电机", en="Power outage: UPS and generator"),
    description=Text(
        zh="确认 UPS 转电池供电，通知，估算后备时间；市电在等待时间内未恢复则断开市电输入、"
        "启动发电机、待输出稳定后再接入负载；电池不足时按优先级正常关机。",
        en="Confirm the UPS is on battery, notify, estimate the runtime; if the mains does not "
        "return in time, disconnect the mains input, start the generator and connect the "
        "loads only once its output is stable; if the battery runs low first, shut the "
        "hosts down gracefully in priority order.",
    ),
    system="power",
    params={**OUTAGE_PARAMS, **RANGE},
)


def _path(*paths: str) -> Condition:
    return lambda ctx: ctx.fact("path") in paths


@outage.check(
    "confirm-on-battery",
    timeout="30s",
    retries=2,
    backoff="1s",
    title=Text(zh="确认 UPS 已转电池供电", en="Confirm the UPS is on battery"),
)
def confirm_on_battery(ctx: StepContext) -> Verdict:
    reading = ups_reading(ctx)
    status = " ".join(sorted(reading.status))
    if not reading.on_battery:
        return Verdict(False, words.not_on_battery(the_ups(ctx).name, status))
    # NUT keeps no time of the OL→OB transition: the moment we see it is the best we have.
    if ctx.fact("on_battery_since") is None:
        ctx.remember("on_battery_since", utc_now())
    ctx.mark_service_lost(reason=f"UPS {the_ups(ctx).name} on battery ({status})")
    declare(ctx, "mains-lost", ups=the_ups(ctx).name)
    return Verdict(True, words.on_battery(status, reading.input_voltage))


@outage.action("notify", title=Text(zh="通知停电", en="Notify the outage"))
def notify(ctx: StepContext) -> dict[str, list[str]]:
    """The blue roster, by email and webhooks (runbooks/_power_notice.py). A delivery that
    fails is told to the operator and recorded; it never stops the run: the battery will
    not wait for a mail server."""
    since = datetime.fromisoformat(ctx.fact("on_battery_since") or utc_now())
    message = outage_message(outage_facts(ctx, since), ctx.inventory)
    outcome = tell_the_operator(ctx, message, ctx.notify(message))
    ctx.remember("outage_notified", outcome["sent"])
    return outcome


@notify.verify
def notified(ctx: StepContext) -> bool:
    # Sent once per run: `dr resume` of a run interrupted after it went out does not resend.
    return ctx.fact("outage_notified") is not None


outage.manual(
    "contact-power-company",
    title=Text(zh="联系供电公司", en="Contact the power company"),
    instructions=Text(
        zh="致电供电公司，询问停电原因（天气、错峰限电、人为破坏）和预计恢复时间，确认后继续。",
        en="Call the power company: ask the cause (weather, peak-load cut, sabotage) and the "
        "expected restoration time, then confirm.",
    ),
)


@outage.action(
    "estimate-runtime",
    timeout="30s",
    retries=2,
    title=Text(zh="估算电池后备时间", en="Estimate the battery runtime"),
)
def estimate_runtime(ctx: StepContext) -> dict[str, object]:
    reading = ups_reading(ctx)
    if reading.runtime_s is None:
        raise StepFailed(words.no_runtime(the_ups(ctx).name))
    low = low_runtime(ctx)
    ctx.remember("runtime_at_start_s", reading.runtime_s)
    # Time on battery left before the shutdown threshold: the budget for the generator.
    margin = reading.runtime_s - low
    if margin <= 0:
        ctx.remember("path", "shutdown")
    ctx.note(
        Text(
            zh=f"电池后备约 {reading.runtime_s:.0f} 秒（{reading.charge_pct}%），"
            f"距关机阈值 {low:.0f} 秒还有 {max(margin, 0):.0f} 秒。",
            en=f"Battery runtime about {reading.runtime_s:.0f} s ({reading.charge_pct} %), "
            f"{max(margin, 0):.0f} s above the shutdown threshold of {low:.0f} s.",
        )
    )
    return {
        "runtime_s": reading.runtime_s,
        "charge_pct": reading.charge_pct,
        "load_pct": reading.load_pct,
        "low_runtime_s": low,
        "margin_s": margin,
    }


# The step's timeout is only a backstop: the condition itself ends the wait at
# `mains_wait` (a parameter; step timeouts cannot take one) or when the battery runs low.
@outage.wait_until(
    "wait-for-mains",
    timeout="24h",
    interval="1s",
    when=lambda ctx: ctx.fact("path") is None,
    title=Text(zh="等待市电恢复", en="Wait for the mains to return"),
)
def wait_for_mains(ctx: StepContext) -> Verdict:
    started = ctx.fact("mains_wait_started")
    if started is None:  # a fact, so that `dr resume` keeps the same deadline
        started = utc_now()
        ctx.remember("mains_wait_started", started)
    waited = (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()
    limit = mains_wait(ctx)
    try:
        reading: UpsReading | None = ups_reading(ctx)
    except TransportError:
        reading = None  # a UPS we cannot read must not keep us from the generator
    if reading is not None and reading.on_line:
        ctx.remember("path", "mains")
        return Verdict(True, words.mains_returned(waited))
    runtime = reading.runtime_s if reading else None
    if runtime is not None and runtime < low_runtime(ctx):
        ctx.remember("path", "shutdown")
        return Verdict(True, words.battery_low(runtime, low_runtime(ctx)))
    if waited >= limit:
        ctx.remember("path", "generator")
        return Verdict(True, words.no_mains(waited, limit))
    return Verdict(False, words.still_on_battery(waited, limit, runtime))


outage.manual(
    "disconnect-mains-by-hand",
    when=lambda ctx: ctx.fact("path") == "generator" and ctx.params["mains_breaker"] == "manual",
    title=Text(zh="手动断开市电输入", en="Disconnect the mains input by hand"),
    instructions=Text(
        zh="在配电柜上断开市电进线开关，确认已断开后继续；下一步由发电机控制器核实。",
        en="Open the mains input breaker on the switchboard and confirm; the next step "
        "checks it through the generator controller.",
    ),
    destructive=True,
)


@outage.action(
    "open-mains-breaker",
    when=lambda ctx: ctx.fact("path") == "generator" and ctx.params["mains_breaker"] == "coil",
    timeout="30s",
    retries=1,
    destructive=True,
    check_first=True,
    title=Text(zh="断开市电输入（市电开关）", en="Disconnect the mains input (mains breaker)"),
)
def open_mains_breaker(ctx: StepContext) -> None:
    with ctx.generator(the_generator(ctx).name) as gen:
        gen.open_mains_breaker()


@open_mains_breaker.verify
def mains_breaker_open(ctx: StepContext) -> Verdict:
    closed = genset_status(ctx).mains_breaker_closed
    return Verdict(not closed, words.breaker("mains", closed))


@outage.check(
    "mains-disconnected",
    when=_path("generator"),
    timeout="30s",
    title=Text(zh="核实市电已断开", en="Verify the mains input is disconnected"),
)
def mains_disconnected(ctx: StepContext) -> Verdict:
    if genset_status(ctx).mains_breaker_closed:
        return Verdict(False, words.MAINS_STILL_CLOSED)
    return Verdict(True, words.breaker("mains", False))


@outage.action(
    "start-generator",
    when=_path("generator"),
    timeout="30s",
    destructive=True,
    title=Text(zh="启动发电机", en="Start the generator"),
)
def start_generator(ctx: StepContext) -> None:
    with ctx.generator(the_generator(ctx).name) as gen:
        status = gen.status()
        # Our own interlock, before the controller's: the procedure says disconnect first.
        if status.mains_breaker_closed:
            raise StepFailed(words.START_WITH_MAINS_CLOSED)
        if status.generator_breaker_closed:
            raise StepFailed(words.START_WITH_GENERATOR_CLOSED)
        gen.start()


@start_generator.verify
def generator_started(ctx: StepContext) -> Verdict:
    status = genset_status(ctx)
    return Verdict(status.start_commanded, words.start_commanded(status.start_commanded))


# When the window in tolerance began, per (run, step). Kept in memory on purpose: after
# a crash or pause nobody watched the output, and the controller reports only whether
# the output is stable now, not since when; so `dr resume` starts the window again from
# zero and journals why (a window counted across the gap would be a guess).
_stable_since: dict[tuple[str, str], float] = {}
_windows_begun_here: set[tuple[str, str]] = set()


# The hold is counted here rather than by the engine's `hold=`: its length defaults to
# the inventory (a hold template needs a literal number), and the low-battery escape
# must end the wait at once, not after a hold.
@outage.wait_until(
    "generator-stable",
    when=_path("generator"),
    timeout="2h",
    interval="1s",
    title=Text(zh="等待发电机输出稳定", en="Wait until the generator output is stable"),
)
def generator_stable(ctx: StepContext) -> Verdict:
    key = (ctx.run_id, ctx.path)
    try:
        runtime = ups_reading(ctx).runtime_s
    except TransportError:
        runtime = None
    if runtime is not None and runtime < low_runtime(ctx):
        _stable_since.pop(key, None)
        ctx.remember("path", "shutdown")
        return Verdict(True, words.battery_low_before_generator(runtime, low_runtime(ctx)))
    status = genset_status(ctx)
    if status.fault and ctx.fact("generator_fault") is None:
        # Keep waiting: the mains or a person may still save the day before the battery
        # runs low; the shutdown threshold decides.
        ctx.remember("generator_fault", status.fault_text)
        ctx.note(
            Text(
                zh=f"发电机故障：{status.fault_text}；电池低于阈值时将按优先级关机。",
                en=f"Generator fault: {status.fault_text}; hosts will be shut down when the "
                "battery falls below the threshold.",
            )
        )
    verdict = output_ok(ctx, status)
    if not verdict.ok:
        _stable_since.pop(key, None)
        return Verdict(False, words.unstable_output(_said(verdict), runtime))
    since = _stable_since.get(key)
    if since is None:
        since = _begin_window(ctx, key)
    held, needed = time.monotonic() - since, stable_for(ctx)
    if held < needed:
        return Verdict(False, words.holding(_said(verdict), held, needed))
    _stable_since.pop(key, None)
    ctx.remember(
        "generator_stable",
        {"held_s": round(held, 1), "voltage": status.voltage, "frequency": status.frequency},
    )
    return Verdict(True, words.held(_said(verdict), held))


def _said(verdict: Verdict) -> Text:
    return Text(zh=verdict.sentence("zh"), en=verdict.sentence("en"))


def _begin_window(ctx: StepContext, key: tuple[str, str]) -> float:
    earlier = ctx.fact("generator_window_started")
    if earlier is not None and key not in _windows_begun_here:
        ctx.note(
            Text(
                zh=f"续跑：发电机稳定计时从零重新开始（上次计时开始于 {earlier}；中断期间无人"
                "监视输出，控制器只报告当前是否稳定，不报告稳定了多久）。",
                en="Resumed: the generator's stable window starts again from zero (the "
                f"previous one began at {earlier}; nobody watched the output while the run "
                "was stopped, and the controller reports only whether it is stable now, not "
                "for how long).",
            )
        )
    _windows_begun_here.add(key)
    ctx.remember("generator_window_started", utc_now())
    _stable_since[key] = time.monotonic()
    return _stable_since[key]


@outage.action(
    "connect-loads",
    when=_path("generator"),
    timeout="30s",
    destructive=True,
    title=Text(zh="接入负载（合发电机开关）", en="Connect the loads (generator breaker)"),
)
def connect_loads(ctx: StepContext) -> None:
    needed = stable_for(ctx)
    stable = ctx.fact("generator_stable")
    if not stable or float(stable.get("held_s", 0)) < needed:
        raise StepFailed(words.not_held_long_enough(needed))
    with ctx.generator(the_generator(ctx).name) as gen:
        status = gen.status()
        if status.mains_breaker_closed:
            raise StepFailed(words.LOADS_WITH_MAINS_CLOSED)
        verdict = output_ok(ctx, status)
        if not verdict.ok:
            raise StepFailed(words.loads_refused(_said(verdict)))
        gen.close_generator_breaker()


@connect_loads.verify
def loads_connected(ctx: StepContext) -> Verdict:
    closed = genset_status(ctx).generator_breaker_closed
    return Verdict(closed, words.breaker("generator", closed))


@outage.wait_until(
    "loads-supplied",
    when=_path("generator"),
    timeout="60s",
    interval="1s",
    hold="3s",
    title=Text(zh="验证负载由发电机供电", en="Verify the generator supplies the loads"),
)
def loads_supplied(ctx: StepContext) -> Verdict:
    status = genset_status(ctx)
    if status.mains_breaker_closed or not status.generator_breaker_closed:
        return Verdict(False, words.BREAKERS_NOT_ON_GENERATOR)
    verdict = output_ok(ctx, status)
    if verdict.ok and ctx.fact("ups_on_generator") is None:
        # Advisory only: in the lab the UPS's input is not wired to the generator.
        on_line = ups_reading(ctx).on_line
        ctx.remember("ups_on_generator", on_line)
        if not on_line:
            ctx.note(
                Text(
                    zh="注意：UPS 仍显示电池供电，请检查 UPS 输入是否接到发电机。",
                    en="Note: the UPS still reports on battery; check that its input is fed "
                    "by the generator.",
                )
            )
    return verdict


def _whole_pair_goes_down(ctx: StepContext) -> bool:
    """Shutting down both hosts of a pair stops the service: a red-level action."""
    if ctx.fact("path") != "shutdown":
        return False
    names = {host.name for host in _shutdown_order(ctx)}
    return any(p.primary in names and p.standby in names for p in ctx.inventory.host_pairs)


outage.approval(
    "approve-pair-shutdown",
    when=_whole_pair_goes_down,
    title=Text(
        zh="领导审批：关闭双机的两台主机",
        en="Leadership approves shutting down both hosts of a pair",
    ),
    instructions=Text(
        zh="电池将耗尽，本次关机包括同一双机组的两台主机，业务将中断（红色预警）。"
        "请尽快批准：不批准时电池耗尽会导致非正常断电。",
        en="The battery is running out and this shutdown takes down both hosts of a pair: "
        "the service stops (red). Approve quickly: without it the battery runs out and the "
        "hosts lose power uncleanly.",
    ),
)


@outage.action(
    "shutdown-hosts",
    when=_path("shutdown"),
    timeout="30m",
    destructive=True,
    title=Text(zh="按优先级正常关机", en="Shut the hosts down in priority order"),
)
def shutdown_hosts(ctx: StepContext) -> dict[str, object]:
    command = ctx.params["shutdown_command"] or (
        DRILL_SHUTDOWN if ctx.is_drill else PRODUCTION_SHUTDOWN
    )
    done: list[str] = list(ctx.fact("shutdown_done", []))  # a resume skips these
    failed: list[str] = []
    _declare_shutdown(ctx)
    for host in _shutdown_order(ctx):
        if host.name in done:
            continue
        # One at a time: a host's priority means its peers of lower number are down first.
        result = ctx.ssh(host, shutdown_command(command, host), warn=True, timeout=60)
        ctx.record(
            "power.shutdown",
            {"host": host.name, "priority": host.shutdown_priority, "exited": result.exited},
            host=host.name,
        )
        if result.ok:
            done.append(host.name)
            ctx.remember("shutdown_done", done)
        else:
            failed.append(host.name)  # the others still go down: the battery will not wait
    if failed:
        raise StepFailed(words.shutdown_failed(failed))
    return {"order": done}


def _declare_shutdown(ctx: StepContext) -> None:
    """Red when the shutdown takes down both hosts of a pair, orange otherwise."""
    names = [host.name for host in _shutdown_order(ctx)]
    whole_pair = any(
        pair.primary in names and pair.standby in names for pair in ctx.inventory.host_pairs
    )
    declare(ctx, "pair-down" if whole_pair else "core-host-down", hosts=", ".join(names))


def _shutdown_order(ctx: StepContext) -> list[Host]:
    return power_plan.in_shutdown_order(ctx.inventory, the_ups(ctx))


@outage.check(
    "service-back-after-shutdown",
    when=_path("shutdown"),
    timeout="60s",
    title=Text(zh="市电恢复并重新开机", en="Mains back and hosts started again"),
)
def service_back_after_shutdown(ctx: StepContext) -> Verdict:
    order = ", ".join(ctx.fact("shutdown_done", []))
    reading = ups_reading(ctx)
    down = [h.name for h in _shutdown_order(ctx) if not ctx.ssh(h, "true", warn=True).ok]
    if reading.on_line and not down:
        return Verdict(True, words.EVERY_HOST_BACK)
    # The run ends failed on purpose: the service is down, so no RTO may be recorded yet.
    return Verdict(False, words.down_until_mains(order, ctx.run_id))


outage.mark_service_restored(title=Text(zh="供电已恢复", en="Power supply restored"))


power_plan.attach(outage)  # what `dr plan` shows of each step (_power_plan.py)
