"""The lag gate of a takeover: a standby further behind than the pair's RPO target is not
promoted unless leadership approves, having been told by how much (Patroni's
`maximum_lag_on_failover`, plus the pair's RPO in seconds).

The gate comes after the fence: the old primary writes nothing more, so what the
standby holds is all there is. It reads the lag from the standby alone (received WAL
not yet replayed, and the age of its newest replayed commit; orchestrator/postgresql/
lag.py): the old primary is fenced and cannot be asked. A standby that is still
replaying is given `lag_wait` to catch up before it is judged; one whose replay is
paused is judged at once (it will not catch up by itself).

Also here, the synchronous pair's other promise: a promoted standby has no standby of
its own, and a primary that waits for one stops every commit, so its
`synchronous_standby_names` is cleared at once (`release_synchronous_wait`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.postgresql.lag import Lag, LagLimit, LagVerdict, judge, measure
from orchestrator.postgresql.synchronous import waits_for_a_standby
from orchestrator.runbook import Param, Runbook, Verdict, seconds
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair
    from orchestrator.postgresql.status import DatabaseStatus

GATE_PARAMS = {
    "lag_wait": Param(
        "30s", "how long a standby that is still replaying may take to come within the RPO"
    ),
}
BEHIND = "standby_behind_rpo"
LAG = "standby_lag"
CHECK_STEP = "check-standby-lag"
APPROVAL_STEP = "approve-lagging-standby"
POLL_S = 1.0


def gate_limit(pair: HostPair) -> LagLimit:
    """What the takeover holds the standby to: RPO 0 for a synchronous pair, else the
    pair's `max_lag_on_failover` bytes and `rpo` seconds."""
    return LagLimit.of(
        max_bytes=pair.max_lag_on_failover,
        max_seconds=pair.rpo,
        synchronous=pair.replication == "synchronous",
    )


def watch_limit(pair: HostPair) -> LagLimit:
    """What the lag watch alerts on: the pair's own limits. A synchronous pair's replay
    is always a moment behind under load; what it must not lose is its synchronous
    standby, which the watch checks apart."""
    return LagLimit(pair.max_lag_on_failover, pair.rpo, pair.replication == "synchronous")


def standby_lag(ctx: StepContext, pair: HostPair, standby: Host) -> tuple[Lag, DatabaseStatus]:
    """The standby's lag as it alone can tell it; StepFailed when it does not answer."""
    status = pair_ops.database_status(ctx, pair, standby)
    if status is None:
        raise StepFailed(
            f"备机 {standby.name} 数据库无响应，无法测量复制延迟 / the database on "
            f"{standby.name} does not answer: its replication lag cannot be measured"
        )
    return measure(status, None), status


def add_gate(rb: Runbook) -> None:
    """The gate's two steps, in the runbook's order: the check, then the approval that
    only a standby behind the target needs."""
    rb.check(
        CHECK_STEP,
        timeout="5m",
        title=Text(
            zh="检查备机复制延迟是否在 RPO 目标内",
            en="Check that the standby's replication lag is within the RPO target",
        ),
    )(check_standby_lag)
    rb.approval(
        APPROVAL_STEP,
        when=lambda ctx: bool(ctx.fact(BEHIND)),
        title=Text(
            zh="领导审批：备机落后超出 RPO 目标，仍提升？",
            en="Leadership approves promoting a standby behind the RPO target",
        ),
        instructions=Text(
            zh="备机复制延迟超出本双机的 RPO 目标（落后字节数与秒数见上一步）：提升它，旧主机上"
            "尚未复制到备机的数据将丢失。批准则按现有数据提升备机接管业务；拒绝则停止，不提升，"
            "可先设法恢复复制或旧主机上的数据。",
            en="The standby is behind the pair's RPO target (the bytes and seconds are in the "
            "step above): promoting it loses what the old primary wrote and the standby "
            "never got. Approve to promote it with the data it has; refuse to stop without "
            "promoting, and first try to recover replication or the old primary's data.",
        ),
    )


def check_standby_lag(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    standby = pair_ops.standby_of(ctx, pair)
    limit = gate_limit(pair)
    wait = seconds(str(ctx.params.get("lag_wait") or "0s")) or 0.0
    deadline = time.monotonic() + wait
    while True:
        lag, status = standby_lag(ctx, pair, standby)
        if status.is_primary:
            if ctx.fact("promoted"):
                return Verdict(
                    True,
                    Text(
                        zh=f"{standby.name} 已由本次运行提升",
                        en=f"{standby.name} was promoted by this run already",
                    ),
                )
            raise StepFailed(
                f"{standby.name} 已是主库，但不是本次运行提升的 / {standby.name} is already a "
                "primary, not promoted by this run: stop and find out why"
            )
        verdict = judge(lag, limit)
        if verdict.within or lag.replay_paused or time.monotonic() >= deadline:
            break
        ctx.sleep(POLL_S)
    return _record(ctx, pair, verdict)


def _record(ctx: StepContext, pair: HostPair, verdict: LagVerdict) -> Verdict:
    ctx.remember(LAG, verdict.to_dict())
    ctx.remember(BEHIND, not verdict.within)
    if not verdict.limit.any:
        ctx.note(
            Text(
                zh=f"双机 {pair.name} 未设 RPO 目标（rpo / max_lag_on_failover），不作拦截："
                + verdict.lag.describe().zh,
                en=f"pair {pair.name} sets no RPO target (rpo / max_lag_on_failover), so "
                "nothing is held back: " + verdict.lag.describe().en,
            )
        )
        return Verdict(True, verdict.lag.describe())
    text = verdict.describe()
    if not verdict.within:
        ctx.note(
            Text(
                zh=f"{text.zh}。提升前须经领导审批。",
                en=f"{text.en}. Promotion waits for leadership's approval.",
            )
        )
    return Verdict(True, text)


def release_synchronous_wait(ctx: StepContext, pair: HostPair, host: Host) -> None:
    """Make `host` (just promoted) wait for no standby: it has none yet."""
    ctx.ssh(host, pair_ops.control(pair, "db_synchronous_off", host), timeout=60)


def set_synchronous(ctx: StepContext, pair: HostPair, host: Host, *, on: bool) -> None:
    action = "db_synchronous_on" if on else "db_synchronous_off"
    ctx.ssh(host, pair_ops.control(pair, action, host), timeout=60)


def waits_for_standby(ctx: StepContext, pair: HostPair, host: Host) -> bool | None:
    """Whether `host`'s database waits for a synchronous standby; None: no answer."""
    status = pair_ops.database_status(ctx, pair, host)
    if status is None:
        return None
    return waits_for_a_standby(status.synchronous_standby_names)
