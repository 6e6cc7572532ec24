"""What the power runbooks share: parameters, ranges, and reading the UPS and generator.

The runbooks themselves: power_outage.py, power_restore.py, ups_fault.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.inventory.command_templates import fill
from orchestrator.runbook import Param, Verdict
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Generator, Host, Ups
    from orchestrator.transports.genset import GensetStatus
    from orchestrator.transports.ups import UpsReading

PRODUCTION_SHUTDOWN = "shutdown -h +1 'dr: UPS battery low'"
# In a drill the hosts may share the machine with the orchestrator (the lab's do): the
# default must leave a trace in the journal and nothing else.
# `{host}` stands outside the quotes: the runbook fills it in shell-quoted.
DRILL_SHUTDOWN = "echo 'dr drill:' {host} 'would shut down now (UPS battery low)'"

DEVICES = {
    "ups": Param(
        "", "the UPS (power.ups name in the inventory); empty: the first one", refers_to="ups"
    ),
    "generator": Param(
        "",
        "the generator (power.generators name); empty: the first one",
        refers_to="generator",
    ),
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
        "coil",
        "how the mains input is disconnected: coil (the controller) or manual",
        choices=("coil", "manual"),
    ),
    "shutdown_command": Param(
        "",
        f"command run on each host, {{host}} its name (shell-quoted: write it outside "
        f"quotes); empty: `{PRODUCTION_SHUTDOWN}` in a live run, a harmless echo in a drill",
    ),
}


def shutdown_command(template: str, host: Host) -> str:
    """The shutdown command for `host`: `template` with `{host}` filled in, quoted."""
    return fill(template, host=host.name)


# ---- the inventory's power section ---------------------------------------------------


def the_ups(ctx: StepContext) -> Ups:
    if ctx.params["ups"]:
        return ctx.inventory.ups(ctx.params["ups"])
    if not ctx.inventory.power.ups:
        raise StepFailed(
            Text(zh="资产清单中没有 UPS（power.ups）", en="the inventory has no UPS (power.ups)")
        )
    return ctx.inventory.power.ups[0]


def the_generator(ctx: StepContext) -> Generator:
    if ctx.params["generator"]:
        return ctx.inventory.generator(ctx.params["generator"])
    if not ctx.inventory.power.generators:
        raise StepFailed(
            Text(
                zh="资产清单中没有发电机（power.generators）",
                en="the inventory has no generator (power.generators)",
            )
        )
    return ctx.inventory.power.generators[0]


def setting(ctx: StepContext, param: str, inventory_value: float) -> float:
    # A parameter of 0 means "as the inventory says": defaults cannot name the inventory.
    value = float(ctx.params[param])
    return value if value > 0 else float(inventory_value)


def mains_wait(ctx: StepContext) -> float:
    return setting(ctx, "mains_wait", the_generator(ctx).mains_wait_seconds)


def stable_for(ctx: StepContext) -> float:
    return setting(ctx, "stable_for", the_generator(ctx).stable_seconds)


def low_runtime(ctx: StepContext) -> float:
    return setting(ctx, "low_runtime", the_ups(ctx).low_runtime_seconds)


def ups_reading(ctx: StepContext) -> UpsReading:
    return ctx.ups(the_ups(ctx).name).reading()


def genset_status(ctx: StepContext) -> GensetStatus:
    with ctx.generator(the_generator(ctx).name) as gen:
        return gen.status()


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


def output_ok(ctx: StepContext, status: GensetStatus) -> Verdict:
    """Generator output within ±tolerance of nominal, the controller agreeing it is stable."""
    cfg = the_generator(ctx)
    if status.fault:
        return Verdict(
            False,
            Text(zh=f"发电机故障：{status.fault_text}", en=f"generator fault: {status.fault_text}"),
        )
    if not status.running:
        return Verdict(False, Text(zh="发电机未运行", en="generator not running"))
    dv = abs(status.voltage - cfg.nominal_voltage)
    df = abs(status.frequency - cfg.nominal_frequency)
    measured = f"{status.voltage:.1f} V / {status.frequency:.2f} Hz"
    if dv > cfg.nominal_voltage * cfg.voltage_tolerance_pct / 100:
        limit = f"±{cfg.voltage_tolerance_pct:g} %"
        return Verdict(
            False,
            Text(
                zh=f"发电机输出 {measured}：电压超出 {limit}",
                en=f"{measured}: voltage outside {limit}",
            ),
        )
    if df > cfg.frequency_tolerance_hz:
        limit = f"±{cfg.frequency_tolerance_hz:g} Hz"
        return Verdict(
            False,
            Text(
                zh=f"发电机输出 {measured}：频率超出 {limit}",
                en=f"{measured}: frequency outside {limit}",
            ),
        )
    if not status.stable:
        return Verdict(
            False,
            Text(
                zh=f"发电机输出 {measured}：控制器尚未报告输出稳定",
                en=f"{measured}: the controller does not report a stable output yet",
            ),
        )
    return Verdict(
        True, Text(zh=f"发电机输出 {measured}，在允许范围内", en=f"{measured} within tolerance")
    )


def input_in_range(ctx: StepContext, reading: UpsReading, prefix: str = "input") -> Verdict:
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
        return Verdict(
            False,
            Text(
                zh=f"UPS 未报告 {prefix} 的电压、频率及其额定值",
                en=f"the UPS does not report {prefix} voltage/frequency and nominal",
            ),
        )
    assert voltage is not None and frequency is not None
    assert nominal_v is not None and nominal_f is not None
    v_tol = nominal_v * float(ctx.params["voltage_tolerance_pct"]) / 100
    f_tol = float(ctx.params["frequency_tolerance_hz"])
    ok = abs(voltage - nominal_v) <= v_tol and abs(frequency - nominal_f) <= f_tol
    measured = f"{prefix} {voltage:.1f} V / {frequency:.2f} Hz"
    allowed = f"{nominal_v:g} V ±{v_tol:.1f} V, {nominal_f:g} Hz ±{f_tol:g} Hz"
    return Verdict(
        ok,
        Text(
            zh=f"{measured}，{'在' if ok else '超出'}允许范围（{allowed}）{'内' if ok else ''}",
            en=f"{measured} {'within' if ok else 'OUTSIDE'} {allowed}",
        ),
    )


# ---- power-outage ---------------------------------------------------------------------
