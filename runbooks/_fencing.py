"""Fencing the old primary of a host pair: the methods the inventory declares, in order.

Fencing makes sure the old primary can no longer accept a write before the standby is
promoted: this is the only thing standing between a cutover and two primaries. Each
method returns a `FenceAttempt` saying whether it fenced and why (not); none of them
trusts its own command: each checks the effect (the database is down and the VIP gone;
the outlet reports off; the command exited 0).

The `manual` method is not here: a person does it in the runbook's manual step, and the
runbook then checks the evidence (no branch still sees the old primary serving).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import HostKeyRejected, StepFailed, TransportError
from orchestrator.inventory.command_templates import fill
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import CommandFence, Host, HostPair, UpsOutletFence

# How long an outlet may take to report "off" after the command (NUT polls its driver).
OUTLET_OFF_TIMEOUT_S = 15.0
# A vendor's fencing tool talks to a management controller that may answer slowly.
COMMAND_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class FenceAttempt:
    method: str
    fenced: bool
    detail: Text

    def to_dict(self) -> dict[str, object]:
        """The journal's form: the English under `detail` (as every earlier run has it),
        the Chinese beside it as `detail_zh`, as a check's sentence is kept."""
        return {
            "method": self.method,
            "fenced": self.fenced,
            "detail": self.detail.en,
            "detail_zh": self.detail.zh,
        }


def fence_over_ssh(ctx: StepContext, pair: HostPair, host: Host) -> FenceAttempt:
    """Stop the service and PostgreSQL on the old primary and release its VIP."""
    if not pair_ops.reachable(ctx, host):
        return FenceAttempt(
            "ssh",
            False,
            Text(f"{host.name} 的 SSH 无应答", f"{host.name} does not answer over SSH"),
        )
    try:
        pair_ops.stop_service(ctx, pair, host)
        pair_ops.stop_database(ctx, pair, host)
        pair_ops.release_vip(ctx, pair, host)
    except HostKeyRejected:
        raise  # a refused key is not a failed fence: no other method may follow it
    except (StepFailed, TransportError) as err:
        why = err.text if isinstance(err, StepFailed) else Text(err.message, err.message)
        said = Text(
            f"经 SSH 停止 {host.name} 失败：{why.zh}",
            f"stopping {host.name} over SSH failed: {why.en}",
        )
        return FenceAttempt("ssh", False, said)
    if pair_ops.database_status(ctx, pair, host) is not None:
        return FenceAttempt(
            "ssh",
            False,
            Text(f"{host.name} 上的数据库仍有应答", f"the database on {host.name} still answers"),
        )
    if pair_ops.holds_vip(ctx, pair, host) is not False:
        return FenceAttempt(
            "ssh", False, Text(f"{host.name} 可能仍持有 VIP", f"{host.name} may still hold the VIP")
        )
    said = Text(
        f"{host.name} 上的数据库已停止、VIP 已释放",
        f"database stopped and VIP released on {host.name}",
    )
    return FenceAttempt("ssh", True, said)


def outlet_state(ctx: StepContext, method: UpsOutletFence) -> str | None:
    """`on` / `off` as the UPS reports the outlet, None when the UPS does not answer."""
    try:
        return ctx.ups(method.ups).get(f"outlet.{method.outlet}.status")
    except TransportError:
        return None


def fence_by_ups_outlet(ctx: StepContext, method: UpsOutletFence, host: Host) -> FenceAttempt:
    """Switch off the UPS outlet that feeds the old primary, through NUT, and wait until
    the UPS reports it off. A UPS that offers the standard instant command
    `outlet.N.load.off` gets it; one that exposes a writable `outlet.N.switch`
    (the lab's dummy-ups) gets that set."""
    what = Text(
        f"UPS {method.ups} 的插座 {method.outlet}", f"UPS {method.ups} outlet {method.outlet}"
    )
    try:
        ups = ctx.ups(method.ups)
        command = f"outlet.{method.outlet}.load.off"
        if command in ups.commands():
            ups.instcmd(command)
        elif f"outlet.{method.outlet}.switch" in ups.variables():
            ups.set(f"outlet.{method.outlet}.switch", "off")
        else:
            said = Text(f"{what.zh}无法经 NUT 切换", f"{what.en} cannot be switched through NUT")
            return FenceAttempt("ups-outlet", False, said)
    except TransportError as err:
        return FenceAttempt(
            "ups-outlet", False, Text(f"{what.zh}：{err.message}", f"{what.en}: {err.message}")
        )
    deadline = time.monotonic() + OUTLET_OFF_TIMEOUT_S
    while time.monotonic() < deadline:
        if outlet_state(ctx, method) == "off":
            said = Text(
                f"{what.zh}已断电：{host.name} 已无电源",
                f"{what.en} is off: {host.name} has no power",
            )
            return FenceAttempt("ups-outlet", True, said)
        ctx.sleep(0.25)
    seconds = f"{OUTLET_OFF_TIMEOUT_S:.0f}"
    said = Text(
        f"{seconds} 秒后 {what.zh}仍未报告断电",
        f"{what.en} still not reported off after {seconds}s",
    )
    return FenceAttempt("ups-outlet", False, said)


def fence_by_command(ctx: StepContext, method: CommandFence, host: Host) -> FenceAttempt:
    """Run the inventory's local fencing command (a vendor's IPMI or PDU tool) on this
    machine; exit 0 means the host is fenced. `{host}` and `{address}` in it are
    replaced, quoted."""
    command = fill(method.command, host=host.name, address=str(host.address))
    try:
        done = ctx.local(command, about=host, timeout=COMMAND_TIMEOUT_S, warn=True)
    except TransportError as err:
        return FenceAttempt("command", False, Text(err.message, err.message))
    if not done.ok:
        said = Text(f"`{command}` 退出码 {done.exited}", f"`{command}` exited {done.exited}")
        return FenceAttempt("command", False, said)
    return FenceAttempt("command", True, Text(f"`{command}` 退出码 0", f"`{command}` exited 0"))
