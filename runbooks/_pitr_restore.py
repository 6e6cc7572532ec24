"""What the recovery runbooks share: restoring a `postgres-pitr` set's cluster onto a
host, starting it, and reading what came back.

pgBackRest runs where `dr` runs (the repository-host layout), so the data directory a
restore writes must be a path on this machine: the target host's own disk when `dr`
runs there (the backup room's machine, which is where a site loss is recovered from),
or its storage mounted here. The cluster is then started on the target host with the
pair's own control command, like every other database action of the runbooks.

Facts are kept per target host (`restore:HOST:...`), since one run may restore twice:
a copy beside the live database, then the live one itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from queue import Empty, Queue
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql

from backups.pitr.context import PitrContext
from backups.pitr.listing import list_backups
from backups.pitr.point import RequestedPoint, requested_point
from backups.pitr.restore import restore_cluster
from orchestrator.errors import DrError, StepFailed, UserInputError
from orchestrator.inventory import PitrBackupSet, resolve_secret
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host, HostPair

POINT_PARAMS_HELP = {
    "to": "latest, or a time in the inventory's time zone, e.g. '2026-12-03 14:32:00'",
    "before_xid": "restore to just before this transaction id (the bad statement's)",
    "before_lsn": "restore to just before this WAL position, e.g. 0/3A000060",
}
# Biggest first, so the last table counted is a small one (pg_relation_size is cheap).
_USER_TABLES_SQL = """
SELECT n.nspname, c.relname, pg_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 3 DESC, 1, 2
"""
COUNT_WORKERS = 3


def fact_key(host: Host | str, name: str) -> str:
    return f"restore:{host if isinstance(host, str) else host.name}:{name}"


# ---- what to restore, where -----------------------------------------------------------


def pitr_set(ctx: StepContext, pair: HostPair) -> PitrBackupSet:
    """The set named by `-p set=`, else the pair's only `postgres-pitr` set."""
    wanted = str(ctx.params.get("set") or "")
    sets = [s for s in ctx.inventory.pitr_sets if s.host_pair == pair.name]
    if wanted:
        found = ctx.inventory.any_backup_set(wanted)
        if not isinstance(found, PitrBackupSet):
            raise StepFailed(f"backup set {wanted!r} is of kind {found.kind}, not postgres-pitr")
        return found
    if len(sets) != 1:
        names = ", ".join(s.name for s in sets) or "none"
        raise StepFailed(
            f"host pair {pair.name} has {len(sets)} postgres-pitr sets ({names}); "
            "name one with -p set=NAME"
        )
    return sets[0]


def target_cluster_path(bset: PitrBackupSet, host: Host) -> Path:
    """Where the set's cluster lives on `host` (the set's `clusters:`)."""
    cluster = bset.cluster_on(host.name)
    if cluster is None:
        raise StepFailed(
            f"backup set {bset.name} has no cluster on {host.name}: add it to the set's "
            f"clusters: (host, path, socket_path) to restore there"
        )
    return Path(cluster.path)


def the_point(ctx: StepContext) -> RequestedPoint:
    try:
        return requested_point(
            ctx.params.get("to"),
            ctx.params.get("before_xid"),
            ctx.params.get("before_lsn"),
            ctx.inventory.timezone,
        )
    except UserInputError as err:
        raise StepFailed(err.message) from None


def point_words(point: RequestedPoint) -> Text:
    """The recovery point as the operator reads it; the English is `point.describe()`."""
    target = point.target
    if target.type == "default":
        zh = "归档日志的末尾（最新）"
    elif target.type == "immediate":
        zh = "基础备份的结束点（一致状态，不再回放之后的日志）"
    else:
        zh = f"{target.type} {target.target} {'之前' if target.exclusive else '之后'}"
    return Text(zh=zh, en=point.describe())


def pitr_context(ctx: StepContext, bset: PitrBackupSet) -> PitrContext:
    return PitrContext(ctx.inventory, bset)


def choose_repository(
    ctx: StepContext, bset: PitrBackupSet, point: RequestedPoint
) -> tuple[int, dict[str, Any]]:
    """The repository to restore from: `-p repository=N`, else the first one that answers
    and whose recovery window reaches the point (for `latest`: the newest WAL)."""
    listing = list_backups(pitr_context(ctx, bset))
    repositories = listing["repositories"]
    usable = [r for r in repositories if r["error"] is None and r["backups"]]
    wanted = str(ctx.params.get("repository") or "auto")
    if wanted != "auto":
        chosen = next((r for r in repositories if str(r["repository"]) == wanted), None)
        if chosen is None or chosen not in usable:
            why = chosen["error"] if chosen else "no such repository"
            raise StepFailed(f"repo{wanted} cannot be restored from: {why or 'it has no backup'}")
        return int(wanted), chosen
    if point.moment is not None:
        reaching = [r for r in usable if _window_reaches(r, point.moment)]
    elif point.target.type == "default":
        reaching = sorted(usable, key=lambda r: r["window"]["to"] or "", reverse=True)
    else:
        reaching = usable
    if not reaching:
        lines = "; ".join(
            f"repo{r['repository']}: {r['error'] or _window_text(r)}" for r in repositories
        )
        raise StepFailed(
            f"no repository can reach {point.describe()}: {lines}. 无可用备份库可恢复到该时间点"
        )
    return int(reaching[0]["repository"]), reaching[0]


def _window_reaches(repository: dict[str, Any], moment: datetime) -> bool:
    window = repository["window"]
    if window["from"] is None or window["to"] is None:
        return False
    return datetime.fromisoformat(window["from"]) <= moment <= datetime.fromisoformat(window["to"])


def _window_text(repository: dict[str, Any]) -> str:
    window = repository["window"]
    return f"window {window['from']} .. {window['to']}"


# ---- doing it -------------------------------------------------------------------------


def clear_target(ctx: StepContext, pair: HostPair, host: Host) -> dict[str, int]:
    """Stop the service and the database on a restore target; either may already be
    stopped (a fresh backup-room host), so their exit codes are recorded, not judged."""
    service = ctx.ssh(host, pair_ops.control(pair, "service_stop", host), warn=True, timeout=60)
    database = ctx.ssh(host, pair_ops.control(pair, "db_stop", host), warn=True, timeout=120)
    return {"service_stop_exit": service.exited, "db_stop_exit": database.exited}


def restore_onto(
    ctx: StepContext,
    bset: PitrBackupSet,
    host: Host,
    point: RequestedPoint,
    repository: int,
    *,
    archive_mode: str = "off",
) -> dict[str, Any]:
    """The set's cluster restored into `host`'s data directory (delta: files already
    right are kept), set to replay WAL up to the point and promote there."""
    data_dir = target_cluster_path(bset, host)
    try:
        return restore_cluster(
            pitr_context(ctx, bset),
            data_dir,
            point.target,
            repository=repository,
            delta=True,
            archive_mode="preserve" if archive_mode == "preserve" else "off",
        )
    except DrError as err:
        raise StepFailed(f"restore onto {host.name} failed: {err.message}") from None


def wait_until_promoted(ctx: StepContext, pair: HostPair, host: Host, timeout: float) -> None:
    """Recovery replays WAL up to the point, then the server promotes itself."""
    deadline = time.monotonic() + timeout
    while True:
        status = pair_ops.database_status(ctx, pair, host)
        if status is not None and status.is_primary:
            return
        if time.monotonic() > deadline:
            state = "does not answer" if status is None else "is still recovering"
            raise StepFailed(
                f"the restored database on {host.name} {state} after {timeout:g}s; its log "
                "says why (a WAL segment the repository lacks, a target it never reached)"
            )
        ctx.sleep(1.0)


def database_dsn(ctx: StepContext, pair: HostPair, host: Host) -> str:
    """libpq connection string to the pair's database on `host`, at its address."""
    database = pair.database
    if database is None:
        raise StepFailed(f"host pair {pair.name} has no database: block")
    parts = {
        "host": str(host.address),
        "port": str(database.port),
        "dbname": database.name,
        "user": database.user,
        "connect_timeout": "10",
        "application_name": "dr recovery",
    }
    if database.password is not None:
        parts["password"] = resolve_secret(database.password)
    return " ".join(f"{k}='{_libpq_quote(v)}'" for k, v in parts.items())


def _libpq_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


@contextmanager
def connected(dsn: str) -> Iterator[Any]:
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.Error as err:
        raise StepFailed(f"cannot connect to the restored database: {err}".strip()) from None
    try:
        yield conn
    finally:
        conn.close()


def recovered_point(dsn: str) -> datetime | None:
    """The commit time of the last transaction recovery replayed (kept after promotion
    until the server restarts): the newest data the restore brought back."""
    with connected(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_last_xact_replay_timestamp()")
        row = cur.fetchone()
        return row[0] if row else None


def table_counts(dsn: str, workers: int = COUNT_WORKERS) -> dict[str, int]:
    """Exact row counts of every user table: the restored data, as it will be reported.
    Counted over a few connections at once, biggest tables first: a count reads the
    whole table, and one connection would leave the server's other cores idle."""
    with connected(dsn) as conn, conn.cursor() as cur:
        cur.execute(_USER_TABLES_SQL)
        tables = [(schema, name) for schema, name, _ in cur.fetchall()]
    if not tables:
        return {}
    queue: Queue[tuple[str, str]] = Queue()
    for table in tables:
        queue.put(table)
    counts: dict[str, int] = {}

    def count_some() -> None:
        with connected(dsn) as own:
            own.set_session(readonly=True, autocommit=True)
            with own.cursor() as cursor:
                while True:
                    try:
                        schema, name = queue.get_nowait()
                    except Empty:
                        return
                    table = sql.Identifier(schema, name)
                    cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
                    counts[f"{schema}.{name}"] = int(cursor.fetchone()[0])

    with ThreadPoolExecutor(max_workers=min(workers, len(tables))) as pool:
        for done in [pool.submit(count_some) for _ in range(min(workers, len(tables)))]:
            done.result()
    return {f"{schema}.{name}": counts[f"{schema}.{name}"] for schema, name in tables}
