"""Dump one PostgreSQL database into the repository and prove the stored dump is good.

The steps and the reasons are in `backups.sources.postgres`; this module is the order
in which they happen and what happens to a snapshot that fails any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg2

from backups.execute import Masker, PipelineResult, child_environment
from backups.manifest import DatabasePart, database_part_name
from backups.restic.backup import BackupOutput
from backups.session import RepositorySession
from backups.sources.postgres import (
    MAGIC,
    MIN_DUMP_BYTES,
    DumpTarget,
    client_environment,
    dump_command,
    export_snapshot,
    exported_snapshot,
    listed_tables,
    restore_list_command,
    table_stats,
)
from orchestrator.errors import DrError, DumpFailed


def dump_database(
    session: RepositorySession,
    target: DumpTarget,
    masker: Masker,
    *,
    tags: list[str],
    host: str,
    at: datetime | None,
    on_json: Callable[[dict[str, Any]], None],
    timeout: float | None = None,
    before_forget: Callable[[], None] | None = None,
) -> DatabasePart:
    """Returns the part (status ok or failed); a failed dump leaves no snapshot behind.
    `timeout` limits pg_dump | restic as a whole; `before_forget` runs before a failed
    dump's snapshot is forgotten (the caller frees repository locks it holds)."""
    filename = f"{database_part_name(target.name)[3:]}.pgdump"
    part = DatabasePart(target.name, target.host_pair, f"/{filename}", None, "failed")
    problems: list[str] = []
    piped: PipelineResult | None = None
    try:
        with exported_snapshot(target, masker) as conn:
            producer = (
                dump_command(target, export_snapshot(conn)),
                client_environment(target, masker),
            )
            output, piped = session.backup_stream(
                producer, filename, tags=tags, host=host, at=at, on_json=on_json,
                timeout=timeout, hash_algorithm=part.hash_algorithm,
            )  # fmt: skip
            part.snapshot_id = output.summary.snapshot_id if output.summary else None
            problems = _stream_problems(target, output, piped)
            if not problems:
                part.tables = table_stats(conn)
    except DumpFailed as err:
        part.error = err.message
        return part
    except psycopg2.Error as err:
        problems.append(f"the database refused a query: {masker(str(err).strip())}")
    if piped is not None:
        part.dump_bytes, part.dump_digest = piped.bytes, piped.digest
    if not problems and part.snapshot_id and piped is not None:
        problems = verify_stored_dump(session, part, piped.digest)
    if problems:
        part.error = "; ".join(problems)
        if part.snapshot_id is not None and before_forget is not None:
            before_forget()
        _remove(session, part)
        return part
    part.status = "ok"
    return part


def _stream_problems(target: DumpTarget, output: BackupOutput, piped: PipelineResult) -> list[str]:
    problems = []
    if piped.timed_out:
        return [
            f"the dump of {target.label} ran past its time limit of "
            f"{piped.consumer.timeout:g}s (timeouts.dump); pg_dump and restic were stopped"
        ]
    if piped.producer.exit_code != 0:
        problems.append(
            f"pg_dump of {target.label} exited {piped.producer.exit_code}: "
            f"{_tail(piped.producer.stderr)}"
        )
    if output.summary is None:
        problems.append("restic reported no snapshot for the dump")
    if piped.bytes < MIN_DUMP_BYTES:
        problems.append(f"the dump is only {piped.bytes} bytes; a complete one is larger")
    elif not piped.head.startswith(MAGIC):
        problems.append("the dump does not start like a pg_dump custom-format archive")
    return problems


def verify_stored_dump(session: RepositorySession, part: DatabasePart, written: str) -> list[str]:
    """Read the part's dump back out of the repository into `pg_restore --list`; it must
    hash to `written`, the digest of what pg_dump wrote (by the part's algorithm)."""
    assert part.snapshot_id is not None
    consumer = (restore_list_command(), child_environment({}, ("PG",)))
    read = session.stream_file(
        part.snapshot_id, part.filename, consumer, hash_algorithm=part.hash_algorithm
    )
    if read.producer.exit_code != 0:
        return [f"reading the dump back with restic dump failed: {_tail(read.producer.stderr)}"]
    if read.consumer.exit_code != 0:
        return [f"pg_restore --list cannot read the stored dump: {_tail(read.consumer.stderr)}"]
    if read.digest != written:
        return ["the dump read back from the repository differs from what pg_dump wrote"]
    missing = sorted(set(part.tables) - listed_tables(read.consumer.stdout))
    if missing:
        return [f"pg_restore --list shows no data for tables: {', '.join(missing)}"]
    return []


def _remove(session: RepositorySession, part: DatabasePart) -> None:
    if part.snapshot_id is None:
        return
    try:
        session.forget_ids([part.snapshot_id])
    except DrError as err:
        # Still unsealed (no manifest lists it as good), but say loudly it is there.
        part.error = f"{part.error}; removing its snapshot {part.snapshot_id} failed too: {err}"
        return
    part.error = f"{part.error} (its snapshot {part.snapshot_id} was removed)"
    part.snapshot_id = None


def _tail(stderr: str, lines: int = 3) -> str:
    kept = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no message)"
