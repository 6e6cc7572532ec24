"""What the power runbooks say to the duty operator, in Chinese and English.

Kept apart from power_outage.py so that the runbook reads as its steps; the English is
what the journal has always kept under `detail` (tests and reports read it).
"""

from __future__ import annotations

from orchestrator.text import Text


def breaker(which: str, closed: bool) -> Text:
    """A breaker's position: mains breaker closed / 市电开关已合闸 (`which`: mains or generator)."""
    zh_name = "市电开关" if which == "mains" else "发电机开关"
    return Text(
        zh=f"{zh_name}{'已合闸' if closed else '已断开'}",
        en=f"{which} breaker {'closed' if closed else 'open'}",
    )


def not_on_battery(ups: str, status: str) -> Text:
    return Text(
        zh=f"UPS {ups} 未转电池供电（状态 {status}）：未发生停电",
        en=f"UPS {ups} is not on battery ({status}): no outage",
    )


def on_battery(status: str, volts: float | None) -> Text:
    return Text(
        zh=f"UPS 电池供电中：状态 {status}，输入电压 {volts} V",
        en=f"on battery: {status}, input {volts} V",
    )


def no_runtime(ups: str) -> Text:
    return Text(
        zh=f"UPS {ups} 未报告电池后备时间（battery.runtime）",
        en=f"UPS {ups} reports no battery.runtime",
    )


def mains_returned(waited: float) -> Text:
    return Text(
        zh=f"市电已恢复（等待了 {waited:.0f} 秒）", en=f"mains returned after {waited:.0f}s"
    )


def battery_low(runtime: float, low: float) -> Text:
    return Text(
        zh=f"电池后备时间 {runtime:.0f} 秒，已低于关机阈值 {low:.0f} 秒",
        en=f"battery runtime {runtime:.0f}s below {low:.0f}s",
    )


def battery_low_before_generator(runtime: float, low: float) -> Text:
    return Text(
        zh=f"发电机带载前电池后备时间 {runtime:.0f} 秒，已低于关机阈值 {low:.0f} 秒："
        "按优先级关闭主机",
        en=f"battery runtime {runtime:.0f}s below {low:.0f}s before the generator carried "
        "the load: shutting the hosts down",
    )


def no_mains(waited: float, limit: float) -> Text:
    return Text(
        zh=f"等待 {waited:.0f} 秒市电仍未恢复（上限 {limit:.0f} 秒）：启用发电机",
        en=f"no mains after {waited:.0f}s (limit {limit:.0f}s): generator",
    )


def still_on_battery(waited: float, limit: float, runtime: float | None) -> Text:
    left = f"{runtime} 秒" if runtime is not None else "未知"
    return Text(
        zh=f"电池供电已 {waited:.0f} 秒（上限 {limit:.0f} 秒），后备时间 {left}",
        en=f"on battery {waited:.0f}s of {limit:.0f}s, runtime {runtime}s",
    )


MAINS_STILL_CLOSED = Text(
    zh="市电开关仍处于合闸状态：不得启动发电机",
    en="the mains breaker is still closed: the generator must not start",
)
START_WITH_MAINS_CLOSED = Text(
    zh="拒绝启动发电机：市电开关处于合闸状态；请先断开市电输入",
    en="refusing to start the generator: the mains breaker is closed; disconnect the mains "
    "input first",
)
START_WITH_GENERATOR_CLOSED = Text(
    zh="拒绝启动发电机：发电机开关处于合闸状态，负载会接到不稳定的输出；请先断开发电机开关",
    en="refusing to start the generator: its breaker is closed, the loads would get an "
    "unstable output; open the generator breaker first",
)
LOADS_WITH_MAINS_CLOSED = Text(
    zh="拒绝接入负载：市电开关处于合闸状态；市电与发电机绝不能同时接入",
    en="refusing to connect the loads: the mains breaker is closed; mains and generator "
    "must never be connected together",
)
BREAKERS_NOT_ON_GENERATOR = Text(
    zh="开关不在发电机供电位置（应为市电开关断开、发电机开关合闸）",
    en="breakers not in generator position",
)
EVERY_HOST_BACK = Text(zh="市电已恢复，所有主机均有应答", en="mains back and every host answers")


def start_commanded(commanded: bool) -> Text:
    return Text(
        zh=f"发电机启动命令：{'已发出' if commanded else '未发出'}",
        en=f"start commanded: {commanded}",
    )


def unstable_output(output: Text, runtime: float | None) -> Text:
    left = f"{runtime} 秒" if runtime is not None else "未知"
    return Text(zh=f"{output.zh}；电池后备时间 {left}", en=f"{output.en}; battery {runtime}s")


def holding(output: Text, held: float, needed: float) -> Text:
    return Text(
        zh=f"{output.zh}，已稳定 {held:.0f} 秒（需 {needed:.0f} 秒）",
        en=f"{output.en} for {held:.0f}s of {needed:.0f}s",
    )


def held(output: Text, seconds: float) -> Text:
    return Text(
        zh=f"{output.zh}，已稳定保持 {seconds:.0f} 秒", en=f"{output.en}, held {seconds:.0f}s"
    )


def not_held_long_enough(needed: float) -> Text:
    return Text(
        zh=f"拒绝接入负载：本次运行中发电机输出尚未稳定保持 {needed:g} 秒"
        "（generator-stable 步骤未成功）",
        en=f"refusing to connect the loads: the generator output has not been held stable "
        f"for {needed:g}s in this run (step generator-stable has not succeeded)",
    )


def loads_refused(output: Text) -> Text:
    return Text(zh=f"拒绝接入负载：{output.zh}", en=f"refusing to connect the loads: {output.en}")


def shutdown_failed(hosts: list[str]) -> Text:
    return Text(
        zh=f"以下主机的关机命令执行失败：{'、'.join(hosts)}",
        en=f"the shutdown command failed on {', '.join(hosts)}",
    )


def down_until_mains(order: str, run_id: str) -> Text:
    return Text(
        zh=f"主机已按顺序关机（{order}）；市电恢复前业务保持中断：恢复供电、启动主机后，"
        f"执行 `dr resume {run_id}`",
        en=f"hosts shut down in order {order}; the service stays down until the mains "
        f"returns: restore power, start the hosts, then `dr resume {run_id}`",
    )
