"""Restore a run's database dump into the scratch server and compare it with the manifest.

`restic dump SNAPSHOT FILE` into a file of the scratch place, hashed on the way: the
hash must equal the one the backup recorded (by the algorithm its manifest names)
before pg_restore sees a byte of it, because pg_restore executes what the dump says.
Then `pg_restore --exit-on-error` into a fresh database owned by the scratch server's
non-superuser restoring role, and every table's rows and checksum are computed with the
very function the backup used (`table_stats`), so the two numbers are comparable by
construction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2

from backups import digests
from backups import manifest as mf
from backups.execute import child_environment
from backups.restore.scratch_pg import ScratchPostgres
from backups.session import RepositorySession
from backups.sources.postgres import pg_program, table_stats


@dataclass
class DatabaseOutcome:
    name: str
    scratch_database: str
    tables: int = 0
    rows: int = 0
    bytes: int = 0
    restore_seconds: float = 0.0
    verify_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tables_verified": self.tables,
            "rows": self.rows,
            "bytes": self.bytes,
            "problems": self.problems,
        }


def restore_database(
    session: RepositorySession, part: mf.DatabasePart, scratch: ScratchPostgres
) -> DatabaseOutcome:
    target = mf.database_part_name(part.name).replace("-", "_")
    outcome = DatabaseOutcome(part.name, target)
    if part.status != "ok" or part.snapshot_id is None:
        outcome.problems.append(f"database {part.name}: the run has no good dump of it")
        return outcome
    scratch.server.create_database(target, owner=scratch.user)
    started = time.monotonic()
    dump_file = scratch.dumps / f"{target}.dump"
    try:
        _fetch_and_restore(session, part, scratch, target, dump_file, outcome)
    finally:
        dump_file.unlink(missing_ok=True)  # restored data: kept no longer than needed
    outcome.restore_seconds = time.monotonic() - started
    if outcome.problems:
        return outcome
    started = time.monotonic()
    with connect(scratch, target) as conn:
        conn.set_session(readonly=True)
        _compare_tables(f"database {part.name}", part.tables, table_stats(conn), outcome)
    outcome.verify_seconds = time.monotonic() - started
    return outcome


def _fetch_and_restore(
    session: RepositorySession,
    part: mf.DatabasePart,
    scratch: ScratchPostgres,
    target: str,
    dump_file: Path,
    outcome: DatabaseOutcome,
) -> None:
    """The dump into `dump_file`, its checksum compared, then (only if it matches)
    pg_restore; every fault into `outcome.problems`."""
    assert part.snapshot_id is not None
    read = session.stream_file(
        part.snapshot_id,
        part.filename,
        (["dd", f"of={dump_file}", "bs=1M", "status=none"], child_environment({})),
        hash_algorithm=part.hash_algorithm,
    )
    outcome.bytes = read.bytes
    label = f"database {part.name}"
    if read.producer.exit_code != 0:
        outcome.problems.append(
            f"{label}: restic dump {part.snapshot_id}:{part.filename} failed: "
            f"{_tail(read.producer.stderr)}"
        )
    elif read.consumer.exit_code != 0:
        outcome.problems.append(
            f"{label}: cannot keep the dump in the scratch place: {_tail(read.consumer.stderr)}"
        )
    elif read.digest != part.dump_digest:
        outcome.problems.append(
            f"{label}: the dump read from the repository ({read.bytes} bytes) differs from "
            f"the one backed up ({part.dump_bytes} bytes, "
            f"{digests.label(part.hash_algorithm)} {part.dump_digest}); it was not restored"
        )
    if outcome.problems:
        return
    restored = session.runner.run(
        [*_pg_restore(scratch, target), str(dump_file)], _env(scratch), timeout=session.timeout
    )
    if restored.exit_code != 0:
        outcome.problems.append(f"{label}: pg_restore failed: {_tail(restored.stderr)}")


@contextmanager
def connect(scratch: ScratchPostgres, database: str, *, validator: bool = False) -> Iterator[Any]:
    """A connection over the scratch server's socket: as the restoring role, or as the
    read-only validating role (`validator`)."""
    conn = psycopg2.connect(
        host=scratch.host,
        port=scratch.port,
        user=scratch.validator if validator else scratch.user,
        password=scratch.validator_password if validator else scratch.password,
        dbname=database,
        connect_timeout=10,
        application_name="dr-restore-test",
    )
    try:
        yield conn
    finally:
        conn.close()


def _compare_tables(
    label: str,
    expected: dict[str, mf.TableEntry],
    found: dict[str, mf.TableEntry],
    outcome: DatabaseOutcome,
) -> None:
    for name in sorted(set(expected) - set(found)):
        outcome.problems.append(f"{label}: table {name} is missing from the restored database")
    for name in sorted(set(found) - set(expected)):
        outcome.problems.append(f"{label}: table {name} was restored but is not in the manifest")
    for name in sorted(set(expected) & set(found)):
        want, got = expected[name], found[name]
        if want.rows != got.rows:
            outcome.problems.append(
                f"{label}: table {name} has {got.rows} rows, the manifest says {want.rows}"
            )
        elif want.checksum != got.checksum:
            outcome.problems.append(
                f"{label}: table {name} has the right row count but other content "
                f"(checksum {got.checksum}, manifest {want.checksum})"
            )
        else:
            outcome.tables += 1
            outcome.rows += got.rows


def _pg_restore(scratch: ScratchPostgres, database: str) -> list[str]:
    # No owners or grants: the roles of the production server do not exist here, and
    # the test is about the data; everything belongs to the (non-superuser) restoring
    # role. --exit-on-error: a half-restored dump is a failure.
    return [
        pg_program("pg_restore"),
        "--no-owner", "--no-privileges", "--exit-on-error", "--no-password",
        "--host", scratch.host, "--port", str(scratch.port),
        "--username", scratch.user, "--dbname", database,
    ]  # fmt: skip


def _env(scratch: ScratchPostgres) -> dict[str, str]:
    return child_environment({"PGPASSWORD": scratch.password, "PGCONNECT_TIMEOUT": "10"}, ("PG",))


def _tail(stderr: str, lines: int = 3) -> str:
    kept = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no message)"
