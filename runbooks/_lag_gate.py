"""The lag gate of a takeover: a standby further behind than the pair's RPO target is not
promoted unless leadership approves, having been told by how much (Patroni's
`maximum_lag_on_failover`, plus the pair's RPO in seconds).

The gate comes after the fence: the old primary writes nothing more, so what the
standby holds is all there is. The old primary is fenced and cannot be asked; the gate
compares the standby with the primary's last position the scheduler's lag watch
journaled (`lag.sample`, within `last_known_primary.lookback`; orchestrator/postgresql/
last_known_primary.py), as Patroni's candidate compares itself with the leader's last
published position. That sees a stream cut before the primary died: the standby then
has replayed all it received and alone reads as caught up. Without such a sample it
reads the lag from the standby alone (received WAL not yet replayed, and the age of
its newest replayed commit; orchestrator/postgresql/lag.py) and says in the step's note
that what it never received cannot be known. The samples are found in the run's own
journal (`ctx.journal_events`): the scheduler and `dr run` must be given the same
`--db` / `DR_DB` (the Ansible role writes the scheduler's from the operator's).
A standby that is still replaying is given `lag_wait` to catch up before it is judged;
one whose replay is paused is judged at once (it will not catch up by itself).

Also here, the synchronous pair's other promise: a promoted standby has no standby of
its own, and a primary that waits for one stops every commit, so its
`synchronous_standby_names` is cleared at once (`release_synchronous_wait`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.postgresql.lag import Lag, LagLimit, LagVerdict, judge, measure
from orchestrator.postgresql.last_known_primary import (
    SAMPLE_KIND,
    PrimaryPosition,
    lookback,
    newest_position,
)
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


def standby_lag(
    ctx: StepContext, pair: HostPair, standby: Host, known: PrimaryPosition | None = None
) -> tuple[Lag, DatabaseStatus]:
    """The standby's lag as it can tell it, against the primary's `known` last position
    when there is one; StepFailed when it does not answer."""
    status = pair_ops.database_status(ctx, pair, standby)
    if status is None:
        raise StepFailed(
            f"备机 {standby.name} 数据库无响应，无法测量复制延迟 / the database on "
            f"{standby.name} does not answer: its replication lag cannot be measured"
        )
    return measure(status, None, known), status


def last_known_primary(ctx: StepContext, pair: HostPair, standby: Host) -> PrimaryPosition | None:
    """The pair's primary's last position in the lag watch's samples (this run's journal),
    with the roles as the run has them; None: no usable sample."""
    since = datetime.now(UTC) - lookback(ctx.inventory.scheduler.lag_check_interval)
    samples = ctx.journal_events((SAMPLE_KIND,), since)
    primary = pair_ops.primary_of(ctx, pair)
    return newest_position(samples, pair=pair.name, primary=primary.name, standby=standby.name)


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
    known = last_known_primary(ctx, pair, standby)
    while True:
        lag, status = standby_lag(ctx, pair, standby, known)
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
    if verdict.lag.basis == "standby":
        ctx.note(_blind_note(ctx))
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


def _blind_note(ctx: StepContext) -> Text:
    """What a reading from the standby alone cannot see, and how to see it next time."""
    hours = lookback(ctx.inventory.scheduler.lag_check_interval).total_seconds() / 3600
    return Text(
        zh=f"备机从未收到的 WAL 无从得知：复制延迟监测在最近 {hours:g} 小时内没有主库的读数"
        "（调度器的 lag-watch 任务，每 scheduler.lag_check_interval 读取一次，须与本次运行"
        "写入同一日志库 --db / DR_DB）。以上延迟只按备机自身计算；若复制流在主库故障前已中断，"
        "备机实际落后更多。",
        en="what the standby never received cannot be known: the lag watch had no reading "
        f"of the primary in the last {hours:g} h (the scheduler's lag-watch job, every "
        "scheduler.lag_check_interval, writing to the same journal as this run: --db / "
        "DR_DB). The lag above is the standby's own; if the replication stream was cut "
        "before the primary failed, the standby is further behind than it shows.",
    )


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
