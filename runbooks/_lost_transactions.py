"""Before an old primary is rewound or rebuilt: list the writes only it acknowledged.

A rewind (or a fresh base backup) throws away the old primary's history since the split,
and with it every loan and repayment the branches were told was saved but that never
reached the standby. These steps read that history first: the stopped old cluster is
started read-only on its own timeline (orchestrator/postgresql/old_timeline.py), its
business rows of the last `lost_lookback` are compared with the new primary's
(timeline_diff.py), and the list is journaled as a `lost_transactions` record, the
branches' re-entry (补录) list that `dr report lost-transactions RUN` prints. Then the
old cluster is stopped again, and the rebuild goes on.

`-p lost_transactions=skip` rebuilds without a list (journaled as skipped): for an old
cluster that cannot start at all, where the operator has decided to rely on other
records.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from orchestrator.durations import parse_seconds
from orchestrator.errors import DrError, StepFailed
from orchestrator.postgresql.old_timeline import SETTLED_FOR_S
from orchestrator.postgresql.timeline_diff import RECORD_KIND, TimelineDiff, compare_timelines
from orchestrator.runbook import Param
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks._pitr_restore import database_dsn
from runbooks._standby import control_data

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair

# Fact: why there is no old cluster to read (set when there is none).
_MISSING = "old_cluster_missing"
SETTLE_TIMEOUT_S = 600.0
PARAMS = {
    "lost_transactions": Param(
        "list",
        "list (read the old primary's last writes before rewinding it) or skip",
        choices=("list", "skip"),
    ),
    "lost_lookback": Param(
        "24h", "how far back from the old primary's newest write to compare (e.g. 24h, 3d)"
    ),
}


def wanted(ctx: StepContext, pair: HostPair) -> bool:
    """A list is made when the inventory says where the business is and nobody skipped it."""
    return bool(pair.transactions) and ctx.params.get("lost_transactions", "list") == "list"


def open_old_timeline(ctx: StepContext, pair: HostPair, old: Host) -> dict[str, Any]:
    """Start the stopped old cluster read-only, and wait until it has replayed its own WAL.
    A host with no cluster at all (a replaced disk) has nothing to list: that is recorded,
    and the rebuild goes on to a fresh base backup."""
    if control_data(ctx, pair, old) is None:
        reason = f"{old.name} has no readable cluster (pg_controldata): its writes went with it"
        ctx.remember(_MISSING, reason)
        _record_skipped(ctx, pair, old.name, reason)
        said = Text(
            zh=f"{old.name} 上没有可读的数据库集群，无法列出其独有交易：已随其数据一同丢失。",
            en=f"{old.name} holds no readable cluster: the writes only it had cannot be "
            "listed; they were lost with its data.",
        )
        ctx.note(said)
        return {"skipped": True, **sentence(said)}
    result = ctx.ssh(old, pair_ops.control(pair, "db_start_read_only", old), warn=True, timeout=120)
    if not result.ok:
        raise StepFailed(
            f"the old primary {old.name} could not start read-only to list its last writes "
            f"({(result.stderr or result.stdout).strip()[-300:]}); repair it, or resume "
            "the rebuild with `-p lost_transactions=skip` to discard them unlisted"
        )
    return {"replayed_to": _settled_replay(ctx, pair, old)}


def _settled_replay(ctx: StepContext, pair: HostPair, old: Host) -> str:
    """Replay of the old cluster's local WAL is done once its position stands still: it
    has no upstream and no archive, so nothing more will come."""
    waited = 0.0
    last: str | None = None
    still_since = 0.0
    while waited < SETTLE_TIMEOUT_S:
        status = pair_ops.database_status(ctx, pair, old)
        if status is not None and status.is_primary:
            pair_ops.stop_database(ctx, pair, old)
            raise StepFailed(f"{old.name} started as a primary, not read-only; stopped it")
        position = None if status is None else status.replay_lsn
        if position is not None and position == last:
            still_since += 1.0
            if still_since >= SETTLED_FOR_S:
                return position
        else:
            still_since = 0.0
        last = position
        ctx.sleep(1.0)
        waited += 1.0
    raise StepFailed(
        f"{old.name} kept replaying its WAL for {SETTLE_TIMEOUT_S:g} s; "
        "try again, or resume with `-p lost_transactions=skip`"
    )


def cluster_missing(ctx: StepContext) -> bool:
    return ctx.fact(_MISSING) is not None


def old_timeline_open(ctx: StepContext, pair: HostPair, old: Host) -> bool:
    if cluster_missing(ctx):
        return True
    status = pair_ops.database_status(ctx, pair, old)
    return status is not None and status.in_recovery


def list_lost(ctx: StepContext, pair: HostPair, old: Host, new: Host) -> dict[str, Any]:
    """Compare, journal the list, and say per branch what to re-enter."""
    lookback = timedelta(seconds=_lookback_seconds(ctx))
    try:
        diff = compare_timelines(
            database_dsn(ctx, pair, old), database_dsn(ctx, pair, new), pair.transactions, lookback
        )
    except DrError as err:
        raise StepFailed(err.message) from None
    doc = {
        "pair": pair.name,
        "old_primary": old.name,
        "new_primary": new.name,
        "lookback_s": lookback.total_seconds(),
        **diff.to_dict(),
    }
    ctx.record(RECORD_KIND, doc, host=old.name)
    ctx.remember("lost_transactions_count", len(diff.lost))
    ctx.note(_summary(diff))
    # The days of that business are owed to the credit centre again once re-entered.
    zone = ZoneInfo(ctx.inventory.timezone)
    days = sorted({row.at.astimezone(zone).date() for row in diff.lost})
    branches = sorted({row.branch for row in diff.lost if row.branch})
    ctx.owe_reporting_days(days, branches, "lost-transactions")
    counts = {k: doc[k] for k in ("lost_count", "changed_count", "lost_amount", "compared")}
    return {**sentence(_summary(diff)), **counts}


def close_old_timeline(ctx: StepContext, pair: HostPair, old: Host) -> None:
    if pair_ops.database_status(ctx, pair, old) is not None:
        pair_ops.stop_database(ctx, pair, old)


def skipped(ctx: StepContext, pair: HostPair, old: Host) -> None:
    """Journal that the old primary's writes go unlisted, and why."""
    reason = (
        "skipped by the operator (-p lost_transactions=skip)"
        if pair.transactions
        else "the inventory names no business tables (host_pairs[].transactions)"
    )
    _record_skipped(ctx, pair, old.name, reason)
    ctx.note(
        Text(
            zh=f"未列出 {old.name} 独有的交易（{reason}）：重建将丢弃它们。",
            en=f"The writes only {old.name} holds are not listed ({reason}): the rebuild "
            "discards them.",
        )
    )


def sentence(text: Text) -> dict[str, str]:
    """A step result's sentence as the journal keeps a verdict's: English under `detail`,
    the Chinese under `detail_zh` (what a `--lang zh` operator reads)."""
    return {"detail": text.en, "detail_zh": text.zh.removesuffix("。")}


def _record_skipped(ctx: StepContext, pair: HostPair, old: str, reason: str) -> None:
    """The record that says why no list was made: the report prints it as such."""
    ctx.record(RECORD_KIND, {"pair": pair.name, "old_primary": old, "skipped": reason})


def _lookback_seconds(ctx: StepContext) -> float:
    try:
        seconds = parse_seconds(ctx.params.get("lost_lookback", "24h"))
    except ValueError as err:
        raise StepFailed(f"lost_lookback: {err}") from None
    if seconds <= 0:
        raise StepFailed("lost_lookback must be longer than 0, e.g. 24h")
    return seconds


def _summary(diff: TimelineDiff) -> Text:
    lost = diff.lost
    if not lost:
        return Text(
            zh=f"新主库拥有旧主库确认的全部交易（比对 {sum(diff.compared.values())} 笔）。",
            en=f"The new primary holds every write the old one acknowledged "
            f"({sum(diff.compared.values())} compared).",
        )
    per_branch = Counter(row.branch or "?" for row in lost)
    total = diff.lost_amount
    branches = ", ".join(f"{branch} {count}" for branch, count in sorted(per_branch.items()))
    return Text(
        zh=f"旧主库确认、新主库没有的交易 {len(lost)} 笔，金额合计 {total}；"
        f"按网点：{branches}。补录清单：dr report lost-transactions RUN",
        en=f"{len(lost)} writes the old primary acknowledged are not on the new one, "
        f"{total} in all; by branch: {branches}. Re-entry list: dr report lost-transactions RUN",
    )


def list_after_restore(ctx: StepContext, pair: HostPair, restored: Host) -> dict[str, Any]:
    """After a restore to a point, before the service moves onto the copy: the writes
    the live primary holds past that point, which the branches lose with the move.
    Without a live primary to read (the site is gone) that is said, never guessed."""
    live = _live_primary(ctx, pair, restored)
    if live is None:
        reason = "no other host of the pair answers as a primary: nothing to compare with"
        _record_skipped(ctx, pair, "-", reason)
        said = Text(zh="双机中没有其他主机作为主库应答：无可比对的对象，未列出补录清单", en=reason)
        return {"listed": False, **sentence(said)}
    return {"listed": True, **list_lost(ctx, pair, live, restored)}


def _live_primary(ctx: StepContext, pair: HostPair, restored: Host) -> Host | None:
    for name in (pair.primary, pair.standby):
        host = ctx.inventory.host(name)
        if host.name == restored.name or not pair_ops.reachable(ctx, host):
            continue
        status = pair_ops.database_status(ctx, pair, host)
        if status is not None and status.is_primary:
            return host
    return None
