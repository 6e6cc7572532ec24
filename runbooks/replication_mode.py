"""Set a host pair's replication mode (设置复制方式) to what the inventory declares:
`replication: synchronous` (the primary waits for its standby before a commit returns:
RPO 0) or `asynchronous` (the default).

1. Find the live primary (the roles may have moved since the inventory was written).
2. Set `synchronous_standby_names` there (`*`: the pair's one standby, whatever its
   name; '' for asynchronous), by the pair's `db_synchronous_on` / `_off` command, and
   reload.
3. For synchronous: wait until the primary reports a streaming standby in sync state.
   A synchronous primary whose standby does not come stops every commit, so if none
   comes in time the run says so and undoes the setting (the step's rollback).

Run it after `rebuild-standby` or a switchback too: a cutover leaves the new primary
asynchronous (it has no standby to wait for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.postgresql.synchronous import synchronous_replicas
from orchestrator.runbook import Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _lag_gate as lag_gate
from runbooks import _standby as standby_ops

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair

rb = Runbook(
    "replication-mode",
    title=Text(zh="设置双机复制方式（同步/异步）", en="Set the pair's replication mode"),
    description=Text(
        zh="按清单的 replication（synchronous/asynchronous）设置当前主库的 "
        "synchronous_standby_names，并核实备机处于同步状态。",
        en="Set synchronous_standby_names on the live primary as the inventory's "
        "`replication` declares, and check that the standby is in sync.",
    ),
    system="credit-report",
    params=dict(pair_ops.PAIR_PARAMS),
)


def _synchronous(pair: HostPair) -> bool:
    return pair.replication == "synchronous"


def _primary(ctx: StepContext, pair: HostPair) -> Host:
    name = ctx.fact("primary")
    if name:
        return ctx.inventory.host(str(name))
    raise StepFailed("no primary was found by the first step")


@rb.check(
    "find-primary",
    timeout="1m",
    title=Text(zh="确定当前主库", en="Find the live primary"),
)
def find_primary(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    roles = standby_ops.live_roles(ctx, pair)
    if roles.primary is None:
        return Verdict(
            False,
            Text(
                zh=f"双机 {pair.name} 没有可写主库",
                en=f"no writable primary in the pair {pair.name}",
            ),
        )
    ctx.remember("primary", roles.primary.name)
    mode = Text(zh="同步", en="synchronous") if _synchronous(pair) else Text("异步", "asynchronous")
    return Verdict(
        True,
        Text(
            zh=f"{roles.primary.name} 为主库；要求的复制方式：{mode.zh}（{pair.replication}）",
            en=f"{roles.primary.name} is the primary; mode wanted: {pair.replication}",
        ),
    )


@rb.action(
    "apply-replication-mode",
    timeout="1m",
    title=Text(zh="在主库设置复制方式", en="Set the replication mode on the primary"),
)
def apply_mode(ctx: StepContext) -> None:
    pair = pair_ops.the_pair(ctx)
    lag_gate.set_synchronous(ctx, pair, _primary(ctx, pair), on=_synchronous(pair))


@apply_mode.verify
def mode_applied(ctx: StepContext) -> bool:
    pair = pair_ops.the_pair(ctx)
    return lag_gate.waits_for_standby(ctx, pair, _primary(ctx, pair)) is _synchronous(pair)


@rb.wait_until(
    "standby-in-sync",
    timeout="1m",
    interval="1s",
    when=lambda ctx: _synchronous(pair_ops.the_pair(ctx)),
    title=Text(zh="核实备机处于同步状态", en="Check that the standby is synchronous"),
)
def standby_in_sync(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    primary = _primary(ctx, pair)
    replicas = standby_ops.replicas(ctx, pair, primary) or []
    synchronous = synchronous_replicas(replicas)
    if synchronous:
        names = ", ".join(str(r.client_addr) for r in synchronous)
        return Verdict(
            True,
            Text(
                zh=f"{primary.name} 提交时等待位于 {names} 的备机（同步复制）",
                en=f"{primary.name} waits for its standby at {names}",
            ),
        )
    return Verdict(
        False,
        Text(
            zh=f"{primary.name} 还没有处于同步状态的流复制备机",
            en=f"{primary.name} has no synchronous standby streaming yet",
        ),
    )


@standby_in_sync.rollback
def back_to_asynchronous(ctx: StepContext) -> None:
    """No standby came: a primary left waiting for one would stop every commit."""
    pair = pair_ops.the_pair(ctx)
    primary = _primary(ctx, pair)
    lag_gate.set_synchronous(ctx, pair, primary, on=False)
    still = lag_gate.waits_for_standby(ctx, pair, primary)
    ctx.note(
        Text(
            zh=f"备机未进入同步状态，已将 {primary.name} 改回异步复制"
            + ("" if still is False else "（未能核实，请人工检查）"),
            en=f"no standby became synchronous: {primary.name} is asynchronous again"
            + ("" if still is False else " (could not be checked: look by hand)"),
        )
    )
