"""The ups-fault runbook (seed branch procedure 3): troubleshoot, call the vendor, bypass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _power_plan as power_plan
from runbooks._alert_levels import declare
from runbooks._power import (
    DEVICES,
    RANGE,
    input_in_range,
    the_ups,
    ups_reading,
)

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext


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
    reading = ups_reading(ctx)
    status = " ".join(sorted(reading.status))
    if not reading.in_alarm:
        name = the_ups(ctx).name
        return Verdict(
            False,
            Text(
                zh=f"UPS {name} 没有告警（状态 {status}）",
                en=f"UPS {name} reports no alarm ({status})",
            ),
        )
    # A UPS in fault no longer protects the load: that is the loss this runbook measures.
    ctx.mark_service_lost(reason=f"UPS alarm: {reading.alarm}")
    ctx.remember("alarm", reading.alarm)
    declare(ctx, "ups-fault", ups=the_ups(ctx).name, alarm=reading.alarm)
    return Verdict(
        True,
        Text(zh=f"UPS 状态 {status}，告警：{reading.alarm}", en=f"{status}: {reading.alarm}"),
    )


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
    name = the_ups(ctx).vendor_contact
    if not name:
        name = the_ups(ctx).name
        raise StepFailed(
            Text(
                zh=f"资产清单中 UPS {name} 没有填写厂商联系人（vendor_contact）",
                en=f"UPS {name} has no vendor_contact in the inventory",
            )
        )
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
    reading = ups_reading(ctx)
    prefix = "input.bypass" if "input.bypass.voltage" in reading.variables else "input"
    return input_in_range(ctx, reading, prefix)


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
        raise StepFailed(
            Text(
                zh=f"拒绝切换到旁路：{verdict.sentence('zh')}",
                en=f"refusing to switch to bypass: {verdict.sentence('en')}",
            )
        )
    ups = ctx.ups(the_ups(ctx).name)
    if ctx.params["bypass_variable"]:
        ups.set(ctx.params["bypass_variable"], "on")
    else:
        ups.instcmd("bypass.start")


@switch_to_bypass.verify
def on_bypass(ctx: StepContext) -> Verdict:
    reading = ups_reading(ctx)
    status = " ".join(sorted(reading.status))
    said = "已转旁路供电" if reading.on_bypass else "尚未转旁路供电"
    return Verdict(reading.on_bypass, Text(zh=f"UPS 状态 {status}：{said}", en=status))


@ups_fault.wait_until(
    "bypass-supplies",
    timeout="30s",
    interval="1s",
    hold="2s",
    title=Text(zh="验证旁路供电", en="Verify the bypass supplies the loads"),
)
def bypass_supplies(ctx: StepContext) -> Verdict:
    reading = ups_reading(ctx)
    ok = reading.on_bypass and bool(reading.output_voltage)
    status = " ".join(sorted(reading.status))
    return Verdict(
        ok,
        Text(
            zh=f"UPS 状态 {status}，输出电压 {reading.output_voltage} V",
            en=f"{status}, output {reading.output_voltage} V",
        ),
    )


ups_fault.mark_service_restored(title=Text(zh="旁路供电已验证", en="Bypass supply verified"))


power_plan.attach(ups_fault)  # what `dr plan` shows of each step (_power_plan.py)
