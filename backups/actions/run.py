"""`dr backup run SET`: before hooks -> files -> each database dump -> manifest ->
copy to the second repository -> after hooks, under the set's lock, into the journal."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from backups import manifest as mf
from backups.alongside import at_lower_priority
from backups.context import BackupContext
from backups.execute import Runner, hook_environment
from backups.hash_cache import HashCache, now_ns
from backups.locks import backup_set_lock
from backups.restic.backup import BackupOutput, is_progress, parse_status
from backups.restic.errors import EXIT_PARTIAL
from backups.results import FAILED, OK, PARTIAL, BackupResult
from backups.session import PendingBytesBackup, PendingPathsBackup, RepositorySession
from backups.snapshot_files import SnapshotFiles, StoredFiles, snapshot_contents
from orchestrator.errors import DrError, RepositoryNotFound


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_backup(
    ctx: BackupContext, *, at: datetime | None = None, wait_seconds: float = 0
) -> BackupResult:
    """Back the set up once. `at` sets the snapshots' time (restic --time; tests use it
    to stand for other days). Errors that stop the whole run (no repository, wrong
    password, unreachable) are recorded, then raised; others are in the result."""
    bset = ctx.backup_set
    result = BackupResult(new_run_id(), bset.name, bset.repository, _now())
    started = time.monotonic()
    # Events wait in memory until restic runs (`_alongside_restic` writes them): the
    # journal's SQLAlchemy then loads beside restic instead of before it.
    with backup_set_lock(bset.name, wait_seconds=wait_seconds), ctx.journal_held():
        ctx.record("backup.started", {"repository": bset.repository}, run_id=result.run_id)
        try:
            _hooks(ctx, result, "before")
            if result.status != FAILED:
                _back_up(ctx, result, at)
        except DrError as err:
            result.fail(err.message)
            _finish(ctx, result, started)
            raise
        _finish(ctx, result, started)
    return result


def _finish(ctx: BackupContext, result: BackupResult, started: float) -> None:
    _hooks(ctx, result, "after")
    result.finished_at = _now()
    result.duration_seconds = round(time.monotonic() - started, 3)
    ctx.record("backup.finished", result.to_dict(), run_id=result.run_id)


def _back_up(ctx: BackupContext, result: BackupResult, at: datetime | None) -> None:
    session = ctx.session()
    result.restic_version = str(session.version)
    paths = list(ctx.backup_set.paths)
    cache = HashCache.for_set(ctx.backup_set.name, session.repository.location)
    # What restic names as it stores the files: the manifest's list of them.
    stored_files, started_ns = StoredFiles(), now_ns()
    # restic starts first, at our own priority: it is the critical path. Everything dr
    # adds runs meanwhile at a lower one (see backups.alongside). No separate "does the
    # repository exist" call: the first restic command says so.
    files_backup = (
        session.start_backup_paths(
            paths,
            tags=_tags(ctx, result, mf.PART_FILES),
            host=ctx.backup_set.host,
            at=at,
            on_json=_files_output(ctx, stored_files),
        )
        if paths
        else None
    )
    early: list[PendingBytesBackup] = []
    try:
        hashed = at_lower_priority(
            lambda: _alongside_restic(ctx, session, result, at, paths, cache, early)
        )
        files = (
            _files(
                result,
                paths,
                files_backup,
                lambda output: snapshot_contents(
                    session, output, stored_files, hashed, started_ns=started_ns
                ),
            )
            if files_backup
            else None
        )
        if files is not None and files.snapshot_id is not None:
            cache.commit()
            result.hashes_reused = cache.reused
        databases = [
            _database(ctx, session, result, database, at, early[0].cancel)
            for database in ctx.backup_set.databases
        ]
        manifest = mf.Manifest(
            run_id=result.run_id,
            backup_set=ctx.backup_set.name,
            host=ctx.backup_set.host,
            started_at=result.started_at,
            finished_at=_now(),
            status=result.status,
            restic_version=str(session.version),
            files=files,
            databases=databases,
        )
        if result.status == OK:
            stored = early[0].write(manifest.to_json())
        else:
            early[0].cancel()
            stored = session.backup_bytes(
                manifest.to_json(),
                mf.FILENAME,
                tags=_manifest_tags(ctx, result, result.status),
                host=ctx.backup_set.host,
                at=at,
            )
    except RepositoryNotFound:
        name = ctx.backup_set.name
        raise RepositoryNotFound(
            f"there is no restic repository at {session.repository.location}; if backup "
            f"set {name!r} is new, create it with `dr backup init {name}`, otherwise the "
            "repository is lost or the inventory names the wrong place"
        ) from None
    finally:
        # No-ops once they finished; on any failure (or Ctrl-C) they are stopped.
        if files_backup is not None:
            files_backup.cancel()
        for pending in early:
            pending.cancel()
        cache.discard()
    if stored.summary is not None:
        result.snapshots[mf.PART_MANIFEST] = stored.summary.snapshot_id
    if result.status == OK:
        result.rpo_point = (at or datetime.now(UTC)).isoformat()
    if result.status != FAILED:
        _copy(ctx, result)


def _alongside_restic(
    ctx: BackupContext,
    session: RepositorySession,
    result: BackupResult,
    at: datetime | None,
    paths: list[str],
    cache: HashCache,
    early: list[PendingBytesBackup],
) -> list[mf.HashedFile]:
    """What dr does while restic backs up the files, at a lower priority: start the
    manifest's restic (betting on status ok, as its tag is fixed at start; it gets the
    manifest once everything else is stored), write the held journal events, hash
    every file for the manifest and stage the hashes for the next run."""
    early.append(
        session.start_backup_bytes(
            mf.FILENAME, tags=_manifest_tags(ctx, result, OK), host=ctx.backup_set.host, at=at
        )
    )
    ctx.release_journal()
    hashed = mf.hash_tree(paths, cache)
    cache.stage()
    return hashed


def _manifest_tags(ctx: BackupContext, result: BackupResult, status: str) -> list[str]:
    return [*_tags(ctx, result, mf.PART_MANIFEST), f"{mf.TAG_STATUS}{status}"]


def _files(
    result: BackupResult,
    paths: list[str],
    files_backup: PendingPathsBackup,
    contents: Callable[[BackupOutput], SnapshotFiles],
) -> mf.FilesPart:
    output, completed = files_backup.finish()
    part = mf.FilesPart(None, paths, OK)
    if output.summary is None:
        part.status = FAILED
        part.error = "restic made no snapshot of the files"
        result.fail(part.error)
        return part
    part.snapshot_id = output.summary.snapshot_id
    result.snapshots[mf.PART_FILES] = part.snapshot_id
    result.files += output.summary.files
    result.bytes += output.summary.total_bytes_processed
    result.data_added += output.summary.data_added
    found = contents(output)
    part.files, part.vanished = found.entries, found.vanished
    part.unreadable = sorted(
        {e.item for e in output.errors if not e.vanished} | set(found.unreadable)
    )
    # Exit code 3 with every error a file gone before restic came to it: nothing that
    # exists was left out. Errors restic counted but we did not keep: we cannot tell.
    unexplained = completed.exit_code == EXIT_PARTIAL and not (
        output.errors and output.errors_all_named()
    )
    if part.unreadable or unexplained:
        part.status = PARTIAL
        result.mark_partial()
        result.unreadable = part.unreadable
        # With restic's own words for each: "permission denied" and a file that went
        # away in a way not recognised as such call for different fixes.
        said = found.unread_because | {e.item: e.message for e in output.errors if not e.vanished}
        named = [f"{p} ({said[p]})" if said.get(p) else p for p in part.unreadable]
        result.errors.append(
            "some files could not be read and are missing from the snapshot: "
            + (", ".join(named) or "restic did not name them all (exit code 3)")
        )
    return part


def _database(
    ctx: BackupContext,
    session: RepositorySession,
    result: BackupResult,
    database: Any,
    at: datetime | None,
    before_forget: Callable[[], None],
) -> mf.DatabasePart:
    # Here, not at the top: a files-only backup would pay for loading psycopg2 before
    # restic starts (bench/backup_vs_restic.py runs a files-only set).
    from backups.sources.postgres import dump_target
    from backups.sources.postgres_dump import dump_database

    target = dump_target(ctx.inventory, database, query_timeout_s=ctx.backup_set.timeouts.query)
    part_name = mf.database_part_name(database.name)
    part = dump_database(
        session,
        target,
        ctx.masker,
        tags=_tags(ctx, result, part_name),
        host=ctx.backup_set.host,
        at=at,
        on_json=_progress(ctx, f"database {database.name}"),
        timeout=ctx.backup_set.timeouts.dump,
        before_forget=before_forget,
    )
    summary = {
        "name": part.name,
        "status": part.status,
        "snapshot": part.snapshot_id,
        "bytes": part.dump_bytes,
        "tables": len(part.tables),
        "rows": sum(t.rows for t in part.tables.values()),
    }
    result.databases.append(summary)
    if part.status == OK and part.snapshot_id:
        result.snapshots[part_name] = part.snapshot_id
        result.bytes += part.dump_bytes
    else:
        result.fail(f"database {part.name}: {part.error}")
    return part


def _copy(ctx: BackupContext, result: BackupResult) -> None:
    target = ctx.copy_session()
    if target is None:
        return
    ids = list(result.snapshots.values())
    result.copy = {"repository": target.repository.location, "snapshots": ids, "status": FAILED}
    try:
        try:
            target.copy_from(ctx.session().repository, ids)
        except RepositoryNotFound:
            raise RepositoryNotFound(
                f"the copy_to repository {target.repository.location} does not exist; "
                f"create it with `dr backup init {ctx.backup_set.name}`"
            ) from None
    except DrError as err:
        result.copy["error"] = err.message
        result.errors.append(f"copy to {target.repository.location} failed: {err.message}")
        return
    result.copy["status"] = OK


def _hooks(ctx: BackupContext, result: BackupResult, when: str) -> None:
    commands = getattr(ctx.backup_set.hooks, when)
    runner = Runner(ctx.masker)
    secrets = (ref.target for _, ref in ctx.inventory.secret_refs() if ref.kind == "env")
    env = hook_environment(
        {
            "DR_BACKUP_SET": ctx.backup_set.name,
            "DR_BACKUP_RUN": result.run_id,
            "DR_BACKUP_STATUS": result.status,
        },
        secrets,
    )
    limit = ctx.backup_set.timeouts.hook
    for command in commands:
        done = runner.shell(command, env, timeout=limit)
        record: dict[str, Any] = {
            "when": when,
            "command": done.argv[-1],
            "exit_code": done.exit_code,
        }
        if done.exit_code != 0:
            record["stderr"] = done.stderr.strip()[-500:]
        if done.timed_out:
            # Not 0, whatever the shell's own exit code: the hook did not finish.
            record.update(exit_code=None, timed_out=True, limit_seconds=limit)
            ctx.record(
                "backup.timeout",
                {"what": f"{when} hook", "command": done.argv[-1], "limit_seconds": limit,
                 "setting": "timeouts.hook"},
                run_id=result.run_id,
            )  # fmt: skip
        result.hooks.append(record)
        failed = done.exit_code != 0 or done.timed_out
        if failed and when == "before":
            why = (
                f"ran past its time limit of {limit}s (timeouts.hook) and was stopped"
                if done.timed_out
                else f"exited {done.exit_code}"
            )
            result.fail(f"before hook {command!r} {why}; nothing was backed up")
            return
        if done.timed_out:
            result.errors.append(
                f"after hook {command!r} ran past its time limit of {limit}s (timeouts.hook) "
                "and was stopped"
            )


def _tags(ctx: BackupContext, result: BackupResult, part: str) -> list[str]:
    return [
        *ctx.backup_set.tags,
        f"{mf.TAG_SET}{ctx.backup_set.name}",
        f"{mf.TAG_RUN}{result.run_id}",
        f"{mf.TAG_PART}{part}",
    ]


def _progress(ctx: BackupContext, label: str) -> Any:
    def forward(message: dict[str, Any]) -> None:
        if ctx.progress is not None and is_progress(message):
            ctx.progress(label, parse_status(message))

    return forward


def _files_output(ctx: BackupContext, stored: StoredFiles) -> Any:
    progress = _progress(ctx, "files")

    def take(message: dict[str, Any]) -> None:
        stored.take(message)
        progress(message)

    return take


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
