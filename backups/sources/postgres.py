"""PostgreSQL: `pg_dump -Fc` streamed into `restic backup --stdin`, and its verification.

Consistency: we open a REPEATABLE READ transaction, export its snapshot and hand it to
pg_dump (`--snapshot`), then count rows and checksum each table inside that same
transaction, so the manifest's numbers describe exactly the data in the dump.

A dump is accepted only if: pg_dump and restic both exited 0, the stream is larger than
an empty archive and starts with the custom format's magic "PGDMP", and reading it back
(`restic dump | pg_restore --list`) gives the same hash (by the manifest's algorithm)
and lists every table's data.
Otherwise its snapshot is forgotten and the run fails: a snapshot that looks valid but
holds a broken dump is the worst outcome a backup can have.

The password goes to pg_dump as PGPASSWORD in its own environment only, and so does the
database's name (PGDATABASE): pg_dump reads a `--dbname` holding `=` as a whole
connection string, which could send the dump, and the password, to another server. TLS
follows the pair's `sslmode`/`sslrootcert`; every statement of our own (row counts,
checksums) has a time limit, so a locked table fails the backup instead of hanging it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ

from backups.execute import Masker, child_environment
from backups.manifest import TableEntry
from orchestrator.errors import DumpFailed, UserInputError
from orchestrator.inventory import BackupDatabase, Inventory
from orchestrator.inventory.secrets import resolve_secret

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
# The smallest custom-format archive pg_dump writes for an empty database is ~1 KiB;
# anything under this cannot be a complete dump.
MIN_DUMP_BYTES = 512
MAGIC = b"PGDMP"

_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2
"""
_TABLE_STATS = (
    "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0) "
    "FROM ONLY {} AS t"
)


@dataclass(frozen=True)
class DumpTarget:
    """Where one database of a backup set is dumped from."""

    name: str  # the database
    host_pair: str | None
    address: str
    port: int
    user: str
    password_ref: Any  # SecretRef | None
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    query_timeout_s: int = 3600

    @property
    def label(self) -> str:
        return f"{self.name} on {self.address}:{self.port}"


def dump_target(
    inventory: Inventory, database: BackupDatabase, *, query_timeout_s: int = 3600
) -> DumpTarget:
    if database.host_pair is None:
        raise UserInputError(
            f"database {database.name!r}: name the host_pair whose server holds it"
        )
    pair = inventory.pair(database.host_pair)
    if pair.database is None:
        raise UserInputError(
            f"host pair {pair.name!r} has no 'database:' block (port, user, password)"
        )
    host = inventory.host(pair.primary if database.source == "primary" else pair.standby)
    return DumpTarget(
        name=database.name,
        host_pair=pair.name,
        address=str(host.address),
        port=pair.database.port,
        user=pair.database.user,
        password_ref=pair.database.password,
        sslmode=pair.database.sslmode,
        sslrootcert=str(pair.database.sslrootcert) if pair.database.sslrootcert else None,
        query_timeout_s=query_timeout_s,
    )


def pg_program(name: str) -> str:
    """A PostgreSQL client program: DR_PG_BIN_DIR, then PostgreSQL 15's, then PATH."""
    for directory in (os.environ.get("DR_PG_BIN_DIR"), str(DEFAULT_BIN_DIR)):
        if directory and (Path(directory) / name).is_file():
            return str(Path(directory) / name)
    found = shutil.which(name)
    if found is None:
        raise DumpFailed(f"{name} not found; install postgresql-client-15")
    return found


def client_environment(target: DumpTarget, masker: Masker) -> dict[str, str]:
    extra = {
        "PGCONNECT_TIMEOUT": "10",
        "PGAPPNAME": "dr-backup",
        # Read as a name only, never as a connection string (unlike --dbname).
        "PGDATABASE": target.name,
        "PGSSLMODE": target.sslmode,
    }
    if target.sslrootcert is not None:
        extra["PGSSLROOTCERT"] = target.sslrootcert
    if target.password_ref is not None:
        password = resolve_secret(target.password_ref)
        masker.add(password)
        extra["PGPASSWORD"] = password
    # PG* left in our environment (PGHOST, PGSERVICE, ...) would change what is dumped.
    return child_environment(extra, ("PG",))


def dump_command(target: DumpTarget, snapshot: str) -> list[str]:
    return [
        pg_program("pg_dump"),
        "--format=custom",
        "--no-password",
        f"--snapshot={snapshot}",
        "--host", target.address,
        "--port", str(target.port),
        "--username", target.user,
    ]  # fmt: skip


def restore_list_command() -> list[str]:
    return [pg_program("pg_restore"), "--list"]


@contextmanager
def exported_snapshot(target: DumpTarget, masker: Masker) -> Iterator[Any]:
    """An open REPEATABLE READ transaction whose snapshot pg_dump can share."""
    password = resolve_secret(target.password_ref) if target.password_ref else None
    try:
        conn = psycopg2.connect(
            host=target.address,
            port=target.port,
            user=target.user,
            password=password,
            dbname=target.name,
            connect_timeout=10,
            application_name="dr-backup",
            sslmode=target.sslmode,
            sslrootcert=target.sslrootcert,
            options=f"-c statement_timeout={target.query_timeout_s * 1000}",
        )
    except psycopg2.Error as err:
        message = masker(str(err).strip())
        raise DumpFailed(f"cannot connect to database {target.label}: {message}") from None
    try:
        conn.set_session(isolation_level=ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        yield conn
    finally:
        conn.rollback()
        conn.close()


def export_snapshot(conn: Any) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_export_snapshot()")
        return str(cursor.fetchone()[0])


def table_stats(conn: Any) -> dict[str, TableEntry]:
    """Rows and checksum of every table, in the transaction's (the dump's) snapshot."""
    stats: dict[str, TableEntry] = {}
    with conn.cursor() as cursor:
        cursor.execute(_TABLES)
        tables = cursor.fetchall()
        for schema, table in tables:
            query = sql.SQL(_TABLE_STATS).format(sql.Identifier(schema, table))
            cursor.execute(query)
            rows, checksum = cursor.fetchone()
            stats[f"{schema}.{table}"] = TableEntry(rows=int(rows), checksum=f"md5sum60:{checksum}")
    return stats


def listed_tables(restore_list: str) -> set[str]:
    """ "schema.table" for every TABLE DATA entry of `pg_restore --list` output."""
    found = set()
    for line in restore_list.splitlines():
        if line.startswith(";") or " TABLE DATA " not in line:
            continue
        # e.g. "215; 0 16390 TABLE DATA public accounts owner"
        words = line.split(" TABLE DATA ", 1)[1].split()
        if len(words) >= 2:
            found.add(f"{words[0]}.{words[1]}")
    return found
