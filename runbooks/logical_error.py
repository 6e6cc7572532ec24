"""Recover from a logical error (逻辑错误恢复): a bad statement that replication has
faithfully copied to the standby, so failing over cannot help.

1. A copy of the database is restored side by side, on a host that does not serve the
   branches (the backup room's), to just before the error: `-p before_xid=N` (the bad
   statement's transaction), `-p before_lsn=X/Y`, or `-p to=TIME`.
2. The copy is compared with the live database, table by table: rows the error removed,
   rows changed since, rows written since. The numbers are on the screen and in the
   record before anyone decides.
3. Leadership approves the resolution chosen with `-p resolution=`:
   - `extract` (the default): the removed rows are put back into the live database
     from the copy (with `-p changed=restore`, changed rows get their old values back
     too). Nothing written since is lost; the service never stops.
   - `rollback`: the whole database goes back to the point (restore-database onto the
     standby, the service moved there), losing every write since: the compare step
     has said how many.
4. Extracting is checked by comparing again: no removed row may remain.
The copy is stopped at the end; its data directory stays for inspection until the next
restore there overwrites it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StepFailed
from orchestrator.postgresql.row_diff import compare
from orchestrator.postgresql.row_restore import put_back_rows
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _pitr_restore as pitr
from runbooks import _restore_plan as restore_plan

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, PitrBackupSet

COPY_RECOVERY_TIMEOUT_S = 4 * 3600.0

rb = Runbook(
    "logical-error",
    title=Text(zh="逻辑错误恢复（误删/误改已同步到备库）", en="Recover from a logical error"),
    description=Text(
        zh="在旁路主机恢复一份错误发生前的数据库副本，逐表对比删除、修改、新增的行数，"
        "经领导审批后将被删除的行导回生产库（或整体回退到该时间点）。",
        en="Restore a copy to just before the bad statement on a host beside the live "
        "one, compare table by table (rows removed, changed, added since), then, once "
        "leadership approves, put the removed rows back into the live database (or roll "
        "the whole database back to that point).",
    ),
    system="credit-report",
    params={
        **pair_ops.PAIR_PARAMS,
        "set": Param(
            "", "the postgres-pitr backup set; empty: the pair's only one", refers_to="pitr-set"
        ),
        "copy_on": Param(
            "", "host for the side-by-side copy; empty: the backup room's", refers_to="host"
        ),
        "to": Param("", pitr.POINT_PARAMS_HELP["to"]),
        "before_xid": Param("", pitr.POINT_PARAMS_HELP["before_xid"]),
        "before_lsn": Param("", pitr.POINT_PARAMS_HELP["before_lsn"]),
        "repository": Param("auto", "auto or 1, 2, ...: the repository to restore the copy from"),
        "tables": Param("", "comma-separated tables to compare and repair; empty: all keyed"),
        "resolution": Param(
            "extract",
            "extract (put removed rows back) or rollback",
            choices=("extract", "rollback"),
        ),
        "changed": Param(
            "keep",
            "keep, or restore: changed rows get the copy's values back",
            choices=("keep", "restore"),
        ),
    },
)

_COMPARISON = "logical_error:comparison"
_PUT_BACK = "logical_error:put_back"


def _resolution(ctx: StepContext) -> str:
    value = str(ctx.params["resolution"]).lower()
    if value not in ("extract", "rollback"):
        raise StepFailed(f"-p resolution={value!r}: use extract or rollback")
    return value


def _extracting(ctx: StepContext) -> bool:
    return _resolution(ctx) == "extract"


def _tables(ctx: StepContext) -> list[str] | None:
    names = [t.strip() for t in str(ctx.params.get("tables") or "").split(",") if t.strip()]
    return names or None


def copy_host(ctx: StepContext, bset: PitrBackupSet) -> Host:
    """`-p copy_on=`, else the first host at a backup site where the set has a cluster."""
    named = str(ctx.params.get("copy_on") or "")
    pair = pair_ops.the_pair(ctx)
    if named:
        host = ctx.inventory.host(named)
    else:
        candidates = [
            ctx.inventory.host(c.host)
            for c in bset.clusters
            if c.host not in (pair.primary, pair.standby)
        ]
        backup_site = [h for h in candidates if ctx.inventory.site(h.site).kind == "backup"]
        if not (backup_site or candidates):
            raise StepFailed(
                f"no host for the copy: the set {bset.name} has no cluster outside the pair; "
                "add one (e.g. at the backup room) to its clusters:, or -p copy_on=HOST"
            )
        host = (backup_site or candidates)[0]
    if host.name in (pair.primary, pair.standby):
        raise StepFailed(
            f"{host.name} is a host of the pair: the copy must not overwrite a database the "
            "branches use; choose another host with -p copy_on="
        )
    return host


def _setup(ctx: StepContext) -> tuple[PitrBackupSet, Host]:
    bset = pitr.pitr_set(ctx, pair_ops.the_pair(ctx))
    return bset, copy_host(ctx, bset)


@rb.check(
    "plan-copy",
    timeout="10m",
    title=Text(
        zh="确定错误发生前的恢复点与副本主机",
        en="Choose the point before the error and the copy's host",
    ),
)
def plan_copy(ctx: StepContext) -> Verdict:
    bset, host = _setup(ctx)
    pitr.target_cluster_path(bset, host)
    point = pitr.the_point(ctx)
    _resolution(ctx)
    if point.target.type == "default":
        return Verdict(
            False,
            Text(
                zh="请指定错误发生前的恢复点：-p before_xid=N、-p before_lsn=X/Y 或 "
                "-p to=时间（恢复到最新会把错误一并复制过来）",
                en="name the point just before the error: -p before_xid=N, -p before_lsn=X/Y "
                "or -p to=TIME (latest would copy the error too)",
            ),
        )
    repository, chosen = pitr.choose_repository(ctx, bset, point)
    ctx.remember(pitr.fact_key(host, "repository"), repository)
    where = f"repo{repository}（{chosen['location']}）"
    return Verdict(
        True,
        Text(
            zh=f"从 {where} 将 {bset.name} 恢复一份副本到 {host.name}，"
            f"恢复点：{pitr.point_words(point).zh}",
            en=f"copy of {bset.name} from repo{repository} ({chosen['location']}) onto "
            f"{host.name}, {point.describe()}",
        ),
    )


@rb.action(
    "restore-copy",
    timeout=f"{COPY_RECOVERY_TIMEOUT_S + 3600:g}s",
    destructive=True,
    title=Text(zh="在旁路主机恢复错误前的副本", en="Restore the copy beside the live database"),
)
def restore_copy(ctx: StepContext) -> dict[str, Any]:
    bset, host = _setup(ctx)
    pair = pair_ops.the_pair(ctx)
    pitr.clear_target(ctx, pair, host)
    repository = int(ctx.fact(pitr.fact_key(host, "repository")))
    document = pitr.restore_onto(ctx, bset, host, pitr.the_point(ctx), repository)
    pair_ops.start_database(ctx, pair, host)
    pitr.wait_until_promoted(ctx, pair, host, COPY_RECOVERY_TIMEOUT_S)
    ctx.remember(pitr.fact_key(host, "copy_ready"), True)
    return document


restore_copy.plan(restore_plan.restore_copy)  # what `dr plan` and its confirmation show


@restore_copy.verify
def copy_ready(ctx: StepContext) -> bool:
    _, host = _setup(ctx)
    if not ctx.fact(pitr.fact_key(host, "copy_ready")):
        return False
    status = pair_ops.database_status(ctx, pair_ops.the_pair(ctx), host)
    return status is not None and status.is_primary


@rb.check(
    "compare",
    timeout="2h",
    title=Text(zh="逐表对比副本与生产库", en="Compare the copy with the live database"),
)
def compare_with_live(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    _, host = _setup(ctx)
    live = pair_ops.primary_of(ctx, pair)
    copy_dsn = pitr.database_dsn(ctx, pair, host)
    live_dsn = pitr.database_dsn(ctx, pair, live)
    result = compare(copy_dsn, live_dsn, _tables(ctx))
    summary = result.to_dict()
    ctx.remember(_COMPARISON, summary)
    lines = [
        f"{t.table}: removed {t.removed}, changed {t.changed}, added {t.added}"
        for t in result.tables
        if t.differs
    ] or ["no differences"]
    ctx.note(
        Text(
            zh="副本与生产库差异（删除/修改/新增行数）：" + "；".join(lines) + "。"
            f"整体回退将丢失错误之后新增的 {result.added} 行与修改的 {result.changed} 行；"
            f"导回方式只补回被删除的 {result.removed} 行，不丢失任何数据。",
            en="Copy against live (rows removed / changed / added since): "
            + "; ".join(lines)
            + f". A rollback would lose the {result.added} rows added and {result.changed} "
            f"changed since the point; extracting puts back the {result.removed} removed rows "
            "and loses nothing.",
        )
    )
    if result.unkeyed:
        ctx.note(
            Text(
                zh="以下表没有主键，无法逐行对比，需人工核对：" + ", ".join(result.unkeyed),
                en="Tables without a primary key cannot be compared row by row; check them "
                "by hand: " + ", ".join(result.unkeyed),
            )
        )
    differing = len([t for t in result.tables if t.differs])
    return Verdict(
        True,
        Text(
            zh=f"共 {differing} 张表有差异：被删除 {result.removed} 行，"
            f"被修改 {result.changed} 行，新增 {result.added} 行",
            en=f"removed {result.removed}, changed {result.changed}, added {result.added} rows "
            f"across {differing} tables",
        ),
    )


rb.approval(
    "approve-resolution",
    title=Text(zh="领导审批：修复方式", en="Leadership approves the resolution"),
    instructions=Text(
        zh="上一步列出了各表被删除、修改、新增的行数。导回（extract）只补回被删除的行；"
        "回退（rollback）使整个数据库回到错误之前，并丢失其后的全部写入。确认所选方式后批准。",
        en="The step above lists, per table, the rows removed, changed and added since. "
        "extract puts the removed rows back; rollback returns the whole database to before "
        "the error and loses every write since. Approve once the chosen way is right.",
    ),
)


@rb.action(
    "put-back-rows",
    timeout="2h",
    when=_extracting,
    title=Text(zh="将被删除的行导回生产库", en="Put the removed rows back into the live database"),
)
def put_back(ctx: StepContext) -> dict[str, Any]:
    pair = pair_ops.the_pair(ctx)
    _, host = _setup(ctx)
    live = pair_ops.primary_of(ctx, pair)
    restore_changed = str(ctx.params["changed"]).lower() == "restore"
    results = put_back_rows(
        pitr.database_dsn(ctx, pair, host),
        pitr.database_dsn(ctx, pair, live),
        only=_tables(ctx),
        changed=restore_changed,
    )
    document = {
        "tables": [r.to_dict() for r in results],
        "inserted": sum(r.inserted for r in results),
        "updated": sum(r.updated for r in results),
    }
    ctx.remember(_PUT_BACK, document)
    return document


@put_back.verify
def put_back_done(ctx: StepContext) -> bool:
    return ctx.fact(_PUT_BACK) is not None


@rb.check(
    "verify-put-back",
    timeout="2h",
    when=_extracting,
    title=Text(zh="复核：被删除的行已全部导回", en="Check that no removed row remains missing"),
)
def verify_put_back(ctx: StepContext) -> Verdict:
    pair = pair_ops.the_pair(ctx)
    _, host = _setup(ctx)
    live = pair_ops.primary_of(ctx, pair)
    result = compare(
        pitr.database_dsn(ctx, pair, host), pitr.database_dsn(ctx, pair, live), _tables(ctx)
    )
    if result.removed:
        return Verdict(
            False,
            Text(
                zh=f"生产库中仍缺少 {result.removed} 行被删除的数据",
                en=f"{result.removed} removed rows are still missing from the live database",
            ),
        )
    put = ctx.fact(_PUT_BACK) or {}
    # Nothing acknowledged is missing any more: the data point is now, the RPO 0.
    ctx.mark_last_data_point(
        datetime.now(UTC),
        source=Text(
            "被删除的行已全部导回；此后写入的数据无丢失",
            "every removed row put back; nothing written since lost",
        ),
    )
    inserted, updated = put.get("inserted", 0), put.get("updated", 0)
    return Verdict(
        True,
        Text(
            zh=f"被删除的行已全部导回（插入 {inserted} 行，更新 {updated} 行）；"
            "此后写入的数据没有丢失",
            en=f"every removed row is back ({inserted} inserted, {updated} updated); "
            "nothing written since was lost",
        ),
    )


rb.include(
    "roll-back",
    "restore-database",
    when=lambda ctx: not _extracting(ctx),
    params={
        "pair": "{pair}",
        "branches": "{branches}",
        "set": "{set}",
        "to": "{to}",
        "before_xid": "{before_xid}",
        "before_lsn": "{before_lsn}",
        "repository": "{repository}",
        "move_service": "yes",
    },
    title=Text(
        zh="整体回退：在备机恢复到错误之前并迁移服务",
        en="Roll back: restore onto the standby, move the service",
    ),
)


@rb.action(
    "stop-copy",
    timeout="3m",
    title=Text(zh="停止旁路副本", en="Stop the copy"),
)
def stop_copy(ctx: StepContext) -> None:
    pair = pair_ops.the_pair(ctx)
    _, host = _setup(ctx)
    pair_ops.stop_database(ctx, pair, host)


@stop_copy.verify
def copy_stopped(ctx: StepContext) -> bool:
    _, host = _setup(ctx)
    return pair_ops.database_status(ctx, pair_ops.the_pair(ctx), host) is None
