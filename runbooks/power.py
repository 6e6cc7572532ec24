"""Power procedures of the seed (branch procedures 2 and 3): power outage, back to mains,
UPS fault.

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
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host
    from orchestrator.inventory.models import Generator, Ups
    from orchestrator.transports.genset import GensetStatus
    from orchestrator.transports.ups import UpsReading

PRODUCTION_SHUTDOWN = "shutdown -h +1 'dr: UPS battery low'"
# In a drill the hosts may share the machine with the orchestrator (the lab's do): the
# default must leave a trace in the journal and nothing else.
DRILL_SHUTDOWN = "echo 'dr drill: {host} would shut down now (UPS battery low)'"

DEVICES = {
    "ups": Param("", "the UPS (power.ups name in the inventory); empty: the first one"),
    "generator": Param("", "the generator (power.generators name); empty: the first one"),
}
RANGE = {
    "voltage_tolerance_pct": Param(10.0, "allowed input voltage deviation from nominal, %"),
    "frequency_tolerance_hz": Param(1.0, "allowed input frequency deviation from nominal, Hz"),
}
OUTAGE_PARAMS = {
    **DEVICES,
    "mains_wait": Param(
        0.0, "seconds to wait for the mains; 0: the generator's mains_wait_seconds"
    ),
    "stable_for": Param(
        0.0,
        "seconds the generator output must stay in tolerance before the loads are "
        "connected; 0: the generator's stable_seconds",
    ),
    "low_runtime": Param(
        0.0, "battery runtime (s) below which hosts are shut down; 0: the UPS's setting"
    ),
    "mains_breaker": Param(
        "coil", "how the mains input is disconnected: coil (the controller) or manual"
    ),
    "shutdown_command": Param(
        "",
        f"command run on each host, {{host}} its name; empty: `{PRODUCTION_SHUTDOWN}` in a "
        "live run, a harmless echo in a drill",
    ),
}


# ---- the inventory's power section ---------------------------------------------------


def _ups(ctx: StepContext) -> Ups:
    if ctx.params["ups"]:
        return ctx.inventory.ups(ctx.params["ups"])
    if not ctx.inventory.power.ups:
        raise StepFailed("the inventory has no UPS (power.ups)")
    return ctx.inventory.power.ups[0]


def _generator(ctx: StepContext) -> Generator:
    if ctx.params["generator"]:
        return ctx.inventory.generator(ctx.params["generator"])
    if not ctx.inventory.power.generators:
        raise StepFailed("the inventory has no generator (power.generators)")
    return ctx.inventory.power.generators[0]


def _setting(ctx: StepContext, param: str, inventory_value: float) -> float:
    # A parameter of 0 means "as the inventory says": defaults cannot name the inventory.
    value = float(ctx.params[param])
    return value if value > 0 else float(inventory_value)


def _mains_wait(ctx: StepContext) -> float:
    return _setting(ctx, "mains_wait", _generator(ctx).mains_wait_seconds)


def _stable_for(ctx: StepContext) -> float:
    return _setting(ctx, "stable_for", _generator(ctx).stable_seconds)


def _low_runtime(ctx: StepContext) -> float:
    return _setting(ctx, "low_runtime", _ups(ctx).low_runtime_seconds)


def _reading(ctx: StepContext) -> UpsReading:
    return ctx.ups(_ups(ctx).name).reading()


def _genset(ctx: StepContext) -> GensetStatus:
    with ctx.generator(_generator(ctx).name) as gen:
        return gen.status()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _output_ok(ctx: StepContext, status: GensetStatus) -> Verdict:
    """Generator output within ±tolerance of nominal, the controller agreeing it is stable."""
    cfg = _generator(ctx)
    if status.fault:
        return Verdict(False, f"generator fault: {status.fault_text}")
    if not status.running:
        return Verdict(False, "generator not running")
    dv = abs(status.voltage - cfg.nominal_voltage)
    df = abs(status.frequency - cfg.nominal_frequency)
    measured = f"{status.voltage:.1f} V / {status.frequency:.2f} Hz"
    if dv > cfg.nominal_voltage * cfg.voltage_tolerance_pct / 100:
        return Verdict(False, f"{measured}: voltage outside ±{cfg.voltage_tolerance_pct:g} %")
    if df > cfg.frequency_tolerance_hz:
        return Verdict(False, f"{measured}: frequency outside ±{cfg.frequency_tolerance_hz:g} Hz")
    if not status.stable:
        return Verdict(False, f"{measured}: the controller does not report a stable output yet")
    return Verdict(True, f"{measured} within tolerance")


def _input_in_range(ctx: StepContext, reading: UpsReading, prefix: str = "input") -> Verdict:
    """The UPS's input (or bypass) line within the allowed range of its nominal values."""
    variables = reading.variables

    def number(name: str) -> float | None:
        try:
            return float(variables[name])
        except (KeyError, ValueError):
            return None

    voltage = number(f"{prefix}.voltage")
    frequency = number(f"{prefix}.frequency")
    nominal_v = number("input.voltage.nominal")
    nominal_f = number("input.frequency.nominal")
    if None in (voltage, frequency, nominal_v, nominal_f):
        return Verdict(False, f"the UPS does not report {prefix} voltage/frequency and nominal")
    assert voltage is not None and frequency is not None
    assert nominal_v is not None and nominal_f is not None
    v_tol = nominal_v * float(ctx.params["voltage_tolerance_pct"]) / 100
    f_tol = float(ctx.params["frequency_tolerance_hz"])
    ok = abs(voltage - nominal_v) <= v_tol and abs(frequency - nominal_f) <= f_tol
    return Verdict(
        ok,
        f"{prefix} {voltage:.1f} V / {frequency:.2f} Hz "
        f"{'within' if ok else 'OUTSIDE'} {nominal_v:g} V ±{v_tol:.1f} V, "
        f"{nominal_f:g} Hz ±{f_tol:g} Hz",
    )


# ---- power-outage ---------------------------------------------------------------------

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


def _path(*paths: str) -> object:
    return lambda ctx: ctx.fact("path") in paths


@outage.check(
    "confirm-on-battery",
    timeout="30s",
    retries=2,
    backoff="1s",
    title=Text(zh="确认 UPS 已转电池供电", en="Confirm the UPS is on battery"),
)
def confirm_on_battery(ctx: StepContext) -> Verdict:
    reading = _reading(ctx)
    status = " ".join(sorted(reading.status))
    if not reading.on_battery:
        return Verdict(False, f"UPS {_ups(ctx).name} is not on battery ({status}): no outage")
    # NUT keeps no time of the OL→OB transition: the moment we see it is the best we have.
    ctx.mark_service_lost(reason=f"UPS {_ups(ctx).name} on battery ({status})")
    return Verdict(True, f"on battery: {status}, input {reading.input_voltage} V")


@outage.action("notify", title=Text(zh="通知停电", en="Notify the outage"))
def notify(ctx: StepContext) -> None:
    # Notifications (WeCom, SMS, the escalation roster) come with issue 7; until then the
    # notice is on the operator's screen and in the record.
    ctx.note(
        Text(
            zh=f"停电：UPS {_ups(ctx).name} 电池供电；请联系供电公司查明原因。",
            en=f"Power outage: UPS {_ups(ctx).name} on battery; contact the power company.",
        )
    )


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
    reading = _reading(ctx)
    if reading.runtime_s is None:
        raise StepFailed(f"UPS {_ups(ctx).name} reports no battery.runtime")
    low = _low_runtime(ctx)
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
        started = _now()
        ctx.remember("mains_wait_started", started)
    waited = (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()
    limit = _mains_wait(ctx)
    try:
        reading: UpsReading | None = _reading(ctx)
    except TransportError:
        reading = None  # a UPS we cannot read must not keep us from the generator
    if reading is not None and reading.on_line:
        ctx.remember("path", "mains")
        return Verdict(True, f"mains returned after {waited:.0f}s")
    runtime = reading.runtime_s if reading else None
    if runtime is not None and runtime < _low_runtime(ctx):
        ctx.remember("path", "shutdown")
        return Verdict(True, f"battery runtime {runtime:.0f}s below {_low_runtime(ctx):.0f}s")
    if waited >= limit:
        ctx.remember("path", "generator")
        return Verdict(True, f"no mains after {waited:.0f}s (limit {limit:.0f}s): generator")
    return Verdict(False, f"on battery {waited:.0f}s of {limit:.0f}s, runtime {runtime}s")


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
    with ctx.generator(_generator(ctx).name) as gen:
        gen.open_mains_breaker()


@open_mains_breaker.verify
def mains_breaker_open(ctx: StepContext) -> Verdict:
    closed = _genset(ctx).mains_breaker_closed
    return Verdict(not closed, "mains breaker closed" if closed else "mains breaker open")


@outage.check(
    "mains-disconnected",
    when=_path("generator"),
    timeout="30s",
    title=Text(zh="核实市电已断开", en="Verify the mains input is disconnected"),
)
def mains_disconnected(ctx: StepContext) -> Verdict:
    if _genset(ctx).mains_breaker_closed:
        return Verdict(False, "the mains breaker is still closed: the generator must not start")
    return Verdict(True, "mains breaker open")


@outage.action(
    "start-generator",
    when=_path("generator"),
    timeout="30s",
    destructive=True,
    title=Text(zh="启动发电机", en="Start the generator"),
)
def start_generator(ctx: StepContext) -> None:
    with ctx.generator(_generator(ctx).name) as gen:
        status = gen.status()
        # Our own interlock, before the controller's: the procedure says disconnect first.
        if status.mains_breaker_closed:
            raise StepFailed(
                "refusing to start the generator: the mains breaker is closed; disconnect "
                "the mains input first"
            )
        if status.generator_breaker_closed:
            raise StepFailed(
                "refusing to start the generator: its breaker is closed, the loads would get "
                "an unstable output; open the generator breaker first"
            )
        gen.start()


@start_generator.verify
def generator_started(ctx: StepContext) -> Verdict:
    status = _genset(ctx)
    return Verdict(status.start_commanded, f"start commanded: {status.start_commanded}")


# When the window in tolerance began, per (run, step). Kept in memory on purpose: after
# a crash or pause nobody watched the output, so `dr resume` starts the window again.
_stable_since: dict[tuple[str, str], float] = {}


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
        runtime = _reading(ctx).runtime_s
    except TransportError:
        runtime = None
    if runtime is not None and runtime < _low_runtime(ctx):
        _stable_since.pop(key, None)
        ctx.remember("path", "shutdown")
        return Verdict(
            True,
            f"battery runtime {runtime:.0f}s below {_low_runtime(ctx):.0f}s before the "
            "generator carried the load: shutting the hosts down",
        )
    status = _genset(ctx)
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
    verdict = _output_ok(ctx, status)
    if not verdict.ok:
        _stable_since.pop(key, None)
        return Verdict(False, f"{verdict.detail}; battery {runtime}s")
    since = _stable_since.setdefault(key, time.monotonic())
    held, needed = time.monotonic() - since, _stable_for(ctx)
    if held < needed:
        return Verdict(False, f"{verdict.detail} for {held:.0f}s of {needed:.0f}s")
    _stable_since.pop(key, None)
    ctx.remember(
        "generator_stable",
        {"held_s": round(held, 1), "voltage": status.voltage, "frequency": status.frequency},
    )
    return Verdict(True, f"{verdict.detail}, held {held:.0f}s")


@outage.action(
    "connect-loads",
    when=_path("generator"),
    timeout="30s",
    destructive=True,
    title=Text(zh="接入负载（合发电机开关）", en="Connect the loads (generator breaker)"),
)
def connect_loads(ctx: StepContext) -> None:
    needed = _stable_for(ctx)
    stable = ctx.fact("generator_stable")
    if not stable or float(stable.get("held_s", 0)) < needed:
        raise StepFailed(
            f"refusing to connect the loads: the generator output has not been held stable "
            f"for {needed:g}s in this run (step generator-stable has not succeeded)"
        )
    with ctx.generator(_generator(ctx).name) as gen:
        status = gen.status()
        if status.mains_breaker_closed:
            raise StepFailed(
                "refusing to connect the loads: the mains breaker is closed; mains and "
                "generator must never be connected together"
            )
        verdict = _output_ok(ctx, status)
        if not verdict.ok:
            raise StepFailed(f"refusing to connect the loads: {verdict.detail}")
        gen.close_generator_breaker()


@connect_loads.verify
def loads_connected(ctx: StepContext) -> Verdict:
    closed = _genset(ctx).generator_breaker_closed
    return Verdict(closed, "generator breaker closed" if closed else "generator breaker open")


@outage.wait_until(
    "loads-supplied",
    when=_path("generator"),
    timeout="60s",
    interval="1s",
    hold="3s",
    title=Text(zh="验证负载由发电机供电", en="Verify the generator supplies the loads"),
)
def loads_supplied(ctx: StepContext) -> Verdict:
    status = _genset(ctx)
    if status.mains_breaker_closed or not status.generator_breaker_closed:
        return Verdict(False, "breakers not in generator position")
    verdict = _output_ok(ctx, status)
    if verdict.ok and ctx.fact("ups_on_generator") is None:
        # Advisory only: in the lab the UPS's input is not wired to the generator.
        on_line = _reading(ctx).on_line
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
    for host in _shutdown_order(ctx):
        if host.name in done:
            continue
        # One at a time: a host's priority means its peers of lower number are down first.
        result = ctx.ssh(host, command.replace("{host}", host.name), warn=True, timeout=60)
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
        raise StepFailed(f"the shutdown command failed on {', '.join(failed)}")
    return {"order": done}


def _shutdown_order(ctx: StepContext) -> list[Host]:
    hosts = [ctx.inventory.host(name) for name in _ups(ctx).protects]
    # Ascending priority; hosts without one go last, as the least known.
    return sorted(
        hosts,
        key=lambda h: (h.shutdown_priority is None, h.shutdown_priority or 0, h.name),
    )


@outage.check(
    "service-back-after-shutdown",
    when=_path("shutdown"),
    timeout="60s",
    title=Text(zh="市电恢复并重新开机", en="Mains back and hosts started again"),
)
def service_back_after_shutdown(ctx: StepContext) -> Verdict:
    order = ", ".join(ctx.fact("shutdown_done", []))
    reading = _reading(ctx)
    down = [h.name for h in _shutdown_order(ctx) if not ctx.ssh(h, "true", warn=True).ok]
    if reading.on_line and not down:
        return Verdict(True, "mains back and every host answers")
    # The run ends failed on purpose: the service is down, so no RTO may be recorded yet.
    return Verdict(
        False,
        f"hosts shut down in order {order}; the service stays down until the mains "
        f"returns: restore power, start the hosts, then `dr resume {ctx.run_id}`",
    )


outage.mark_service_restored(title=Text(zh="供电已恢复", en="Power supply restored"))


# ---- power-restore ---------------------------------------------------------------------

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
    status = _genset(ctx)
    if status.mains_breaker_closed and not status.start_commanded:
        return Verdict(False, "the mains breaker is closed and the generator stopped: on mains")
    return Verdict(
        True,
        f"mains breaker {'closed' if status.mains_breaker_closed else 'open'}, generator "
        f"breaker {'closed' if status.generator_breaker_closed else 'open'}",
    )


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
    return _input_in_range(ctx, _reading(ctx))


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
    with ctx.generator(_generator(ctx).name) as gen:
        gen.open_generator_breaker()


@open_generator_breaker.verify
def generator_breaker_open(ctx: StepContext) -> Verdict:
    closed = _genset(ctx).generator_breaker_closed
    return Verdict(not closed, "generator breaker closed" if closed else "generator breaker open")


@restore.action(
    "close-mains-breaker",
    timeout="30s",
    destructive=True,
    check_first=True,
    title=Text(zh="合上市电开关", en="Close the mains breaker"),
)
def close_mains_breaker(ctx: StepContext) -> None:
    with ctx.generator(_generator(ctx).name) as gen:
        if gen.status().generator_breaker_closed:
            raise StepFailed(
                "refusing to close the mains breaker: the generator breaker is closed; mains "
                "and generator must never be connected together"
            )
        gen.close_mains_breaker()


@close_mains_breaker.verify
def mains_breaker_closed(ctx: StepContext) -> Verdict:
    closed = _genset(ctx).mains_breaker_closed
    return Verdict(closed, "mains breaker closed" if closed else "mains breaker open")


@restore.wait_until(
    "on-mains",
    timeout="60s",
    interval="1s",
    hold="2s",
    title=Text(zh="验证由市电供电", en="Verify the mains supplies the loads"),
)
def on_mains(ctx: StepContext) -> Verdict:
    status = _genset(ctx)
    reading = _reading(ctx)
    ok = status.mains_breaker_closed and not status.generator_breaker_closed and reading.on_line
    return Verdict(ok, f"UPS {' '.join(sorted(reading.status))}")


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
    status = _genset(ctx)
    return Verdict(not status.generator_breaker_closed, "running unloaded")


@restore.action(
    "stop-generator",
    timeout="30s",
    check_first=True,
    title=Text(zh="停止发电机", en="Stop the generator"),
)
def stop_generator(ctx: StepContext) -> None:
    with ctx.generator(_generator(ctx).name) as gen:
        gen.stop()


@stop_generator.verify
def generator_stopped(ctx: StepContext) -> Verdict:
    status = _genset(ctx)
    stopped = not status.start_commanded and not status.running
    return Verdict(stopped, "stopped" if stopped else "still running")


# ---- ups-fault --------------------------------------------------------------------------

ups_fault = Runbook(
    "ups-fault",
    title=Text(zh="UPS 故障：排查、联系厂家、转旁路", en="UPS fault: troubleshoot, vendor, bypass"),
    description=Text(
        zh="读取告警，基本排查，联系 UPS 厂家；市电在允许范围内时切换到旁路（市电）供电。",
        en="Read the alarm, troubleshoot, call the UPS vendor; switch to bypass (mains) only "
        "while the mains is within the allowed range.",
    ),
    system="power",
    params={
        "ups": DEVICES["ups"],
        **RANGE,
        "bypass_variable": Param(
            "input.bypass.switch.on",
            "writable variable that transfers to bypass; empty: instant command bypass.start",
        ),
    },
)


@ups_fault.check(
    "read-alarm",
    timeout="30s",
    retries=2,
    title=Text(zh="读取 UPS 告警与状态", en="Read the UPS alarm and status"),
)
def read_alarm(ctx: StepContext) -> Verdict:
    reading = _reading(ctx)
    status = " ".join(sorted(reading.status))
    if not reading.in_alarm:
        return Verdict(False, f"UPS {_ups(ctx).name} reports no alarm ({status})")
    # A UPS in fault no longer protects the load: that is the loss this runbook measures.
    ctx.mark_service_lost(reason=f"UPS alarm: {reading.alarm}")
    ctx.remember("alarm", reading.alarm)
    return Verdict(True, f"{status}: {reading.alarm}")


ups_fault.manual(
    "troubleshoot",
    title=Text(zh="基本排查", en="Basic troubleshooting"),
    instructions=Text(
        zh="查看 UPS 面板告警与日志，检查输入开关、风扇、温度、负载率和电池柜；不要打开机柜。",
        en="Read the UPS panel's alarms and log; check the input breaker, fans, temperature, "
        "load and battery cabinet. Do not open the cabinet.",
    ),
)


@ups_fault.action("vendor-contact", title=Text(zh="UPS 厂家联系方式", en="The UPS vendor"))
def vendor_contact(ctx: StepContext) -> dict[str, str | None]:
    name = _ups(ctx).vendor_contact
    if not name:
        raise StepFailed(f"UPS {_ups(ctx).name} has no vendor_contact in the inventory")
    contact = ctx.inventory.contact(name)
    ctx.note(
        Text(
            zh=f"UPS 厂家：{contact.name}，电话 {contact.phone}，邮箱 {contact.email}",
            en=f"UPS vendor: {contact.name}, phone {contact.phone}, email {contact.email}",
        )
    )
    return {"contact": contact.name, "phone": contact.phone, "email": contact.email}


ups_fault.manual(
    "call-vendor",
    title=Text(zh="联系 UPS 厂家", en="Call the UPS vendor"),
    instructions=Text(
        zh="按上一步显示的电话联系 UPS 厂家，报告告警内容，约定维修时间，确认后继续。",
        en="Call the UPS vendor on the number shown in the previous step, report the alarm, "
        "agree on the repair, then confirm.",
    ),
)


@ups_fault.check(
    "bypass-in-range",
    timeout="30s",
    title=Text(zh="确认旁路（市电）在允许范围内", en="Check the bypass (mains) is in range"),
)
def bypass_in_range(ctx: StepContext) -> Verdict:
    return _bypass_verdict(ctx)


def _bypass_verdict(ctx: StepContext) -> Verdict:
    reading = _reading(ctx)
    prefix = "input.bypass" if "input.bypass.voltage" in reading.variables else "input"
    return _input_in_range(ctx, reading, prefix)


@ups_fault.action(
    "switch-to-bypass",
    timeout="60s",
    # The UPS shows BYPASS only a few seconds after the SET; repeating it is harmless.
    retries=3,
    backoff="1s",
    destructive=True,
    check_first=True,
    title=Text(zh="切换到旁路供电", en="Switch to bypass"),
)
def switch_to_bypass(ctx: StepContext) -> None:
    verdict = _bypass_verdict(ctx)  # again: the mains may have moved since the check
    if not verdict.ok:
        raise StepFailed(f"refusing to switch to bypass: {verdict.detail}")
    ups = ctx.ups(_ups(ctx).name)
    if ctx.params["bypass_variable"]:
        ups.set(ctx.params["bypass_variable"], "on")
    else:
        ups.instcmd("bypass.start")


@switch_to_bypass.verify
def on_bypass(ctx: StepContext) -> Verdict:
    reading = _reading(ctx)
    return Verdict(reading.on_bypass, " ".join(sorted(reading.status)))


@ups_fault.wait_until(
    "bypass-supplies",
    timeout="30s",
    interval="1s",
    hold="2s",
    title=Text(zh="验证旁路供电", en="Verify the bypass supplies the loads"),
)
def bypass_supplies(ctx: StepContext) -> Verdict:
    reading = _reading(ctx)
    ok = reading.on_bypass and bool(reading.output_voltage)
    return Verdict(ok, f"{' '.join(sorted(reading.status))}, output {reading.output_voltage} V")


ups_fault.mark_service_restored(title=Text(zh="旁路供电已验证", en="Bypass supply verified"))
