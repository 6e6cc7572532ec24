"""dr's restore of a `postgres-pitr` set against raw `pgbackrest restore`, same backup, one run.

Target (issue "recover the credit system from its backups"): the restore of a >= 1 GiB
credit database with an hour of WAL takes dr at most 1.10x what the raw tool takes.

One source cluster (PostgreSQL 15) holds a credit-like database of --size-mb (loans and
repayments, made with generate_series before archiving starts), archived by pgBackRest
through dr (`dr backup init`, a full base backup by `run_backup`) into an encrypted posix
repository. After the backup, a stream of updates and inserts writes --wal-mb of WAL
(an hour of a branch network's writes, compressed in time), all archived; the source
then stops. Each round, in alternating order:
  - raw: `pgbackrest restore` (latest) with a configuration that holds the cipher pass,
         as an operator would write it, then start PostgreSQL until it accepts
         connections and recovery has ended (promoted at the end of the WAL)
  - dr:  `backups.pitr.restore.restore_cluster` as the restore-database runbook calls it
         (delta, restore_command reading the secret where the inventory says), the same
         start and wait; then the runbook's verification, exact row counts of every
         user table (`runbooks._pitr_restore.table_counts`), timed apart so both ratios
         show
Both restored copies are checked against the source's row counts (outside the timing).
Page cache is dropped before every restore (when allowed), so neither side reads the
repository warm from the other's run.

    .venv/bin/python bench/restore_vs_pgbackrest.py [--size-mb 1024] [--wal-mb 512]
        [--rounds 2] [--workdir /var/tmp] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import yaml

from backups.pgbackrest.restore import RecoveryTarget
from backups.pitr.context import PitrContext
from backups.pitr.init import init_set
from backups.pitr.restore import restore_cluster
from backups.pitr.run import run_backup
from backups.pitr.session import pgbackrest_program
from backups.pitr.settings import server_settings
from orchestrator.inventory import load_inventory
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.local_cluster import LocalCluster
from runbooks._pitr_restore import table_counts

CIPHER_PASS = "bench-cipher-pass-not-secret"
DATABASE = "credit"
BATCH_ROWS = 200_000

SCHEMA = """
CREATE TABLE loans (
    id bigint PRIMARY KEY, borrower_id bigint NOT NULL, org_code text NOT NULL,
    amount numeric(14,2) NOT NULL, balance numeric(14,2) NOT NULL, rate numeric(6,4),
    opened date NOT NULL, status text NOT NULL, note text);
CREATE TABLE repayments (
    id bigserial PRIMARY KEY, loan_id bigint NOT NULL, paid_at timestamptz NOT NULL,
    amount numeric(14,2) NOT NULL, channel text NOT NULL, reference text);
"""
LOANS = """
INSERT INTO loans SELECT g, g %% 400000, 'ORG' || (g %% 37), 1000 + (g %% 500000) / 10.0,
    (g %% 500000) / 10.0, 0.0435 + (g %% 100) / 10000.0, date '2020-01-01' + (g %% 2000)::int,
    'open', md5(g::text) || ' branch ' || (g %% 61)
FROM generate_series(%(first)s::bigint, %(last)s) g
"""
REPAYMENTS = """
INSERT INTO repayments (loan_id, paid_at, amount, channel, reference)
SELECT (g * 7919) %% %(loans)s + 1, timestamptz '2024-01-01' + g * interval '17 seconds',
    (g %% 9000) / 10.0, (ARRAY['counter','mobile','transfer'])[g %% 3 + 1], md5((-g)::text)
FROM generate_series(%(first)s::bigint, %(last)s) g
"""


@dataclass
class Source:
    work: Path
    ctx: PitrContext
    raw_config: Path
    counts: dict[str, int]
    owner: pwd.struct_passwd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024, help="database size to make")
    parser.add_argument("--wal-mb", type=int, default=512, help="WAL written after the backup")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--keep", action="store_true", help="leave the work directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dr-bench-pitr-", dir=args.workdir))
    work.chmod(0o711)  # the postgres account passes through to its directories
    os.environ["XDG_STATE_HOME"] = str(work / "state")
    try:
        source = build(work, args.size_mb, args.wal_mb)
        results = bench(source, args.rounds)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results, args)


# ---- the source: database, backup, WAL ------------------------------------------------


def build(work: Path, size_mb: int, wal_mb: int) -> Source:
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    secrets = work / "secrets"
    secrets.mkdir(mode=0o755)
    pass_file = secrets / "cipher.pass"
    pass_file.write_text(CIPHER_PASS + "\n")
    pass_file.chmod(0o600)
    os.chown(pass_file, owner.pw_uid, owner.pw_gid)
    port = find_free_port()
    inventory = write_inventory(work, port, pass_file)
    loaded = load_inventory(inventory)
    ctx = PitrContext.for_set(loaded, "credit-pitr")
    cluster = LocalCluster(work / "source" / "data", port=port, name="dr-bench-source")
    cluster.init()
    cluster.start()
    mark = time.monotonic()
    load_database(cluster, size_mb)
    print(f"source: {size_mb} MB of credit data in {time.monotonic() - mark:.0f}s", flush=True)
    # Archiving from here on: the load before it is in the base backup, not in the WAL.
    cluster.extra_settings = server_settings(loaded, loaded.pitr_sets[0], pgbackrest_program())
    cluster.init()
    cluster.stop()
    cluster.start()
    init_set(ctx)
    mark = time.monotonic()
    made = run_backup(ctx, kind="full")
    if made.status != "ok":
        raise SystemExit(f"the base backup failed: {made.errors}")
    print(f"source: full backup in {time.monotonic() - mark:.0f}s", flush=True)
    mark = time.monotonic()
    written = write_wal(cluster, wal_mb)
    print(
        f"source: {written / 2**20:.0f} MB of WAL written and archived in "
        f"{time.monotonic() - mark:.0f}s",
        flush=True,
    )
    counts = table_counts(dsn(cluster))
    cluster.stop()
    raw_config = work / "raw" / "pgbackrest.conf"
    write_raw_config(Path(ctx.backup_set.config_path), raw_config, owner)
    return Source(work, ctx, raw_config, counts, owner)


def write_inventory(work: Path, port: int, pass_file: Path) -> Path:
    pitr: dict[str, Any] = {
        "name": "credit-pitr",
        "kind": "postgres-pitr",
        "host_pair": "credit",
        "stanza": "credit",
        "pg_path": str(work / "source" / "data"),
        "pg_socket_path": str(work / "source" / "run"),
        "repositories": [{"type": "posix", "path": str(work / "repo")}],
        "cipher_pass": f"file:{pass_file}",
        "config_file": str(work / "pgbackrest" / "credit.conf"),
        "spool_path": str(work / "spool"),
        "log_path": str(work / "log"),
        "lock_path": str(work / "lock"),
        "start_fast": True,
    }
    document = {
        "name": "bench-pitr",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": "db-a", "address": "127.0.0.1", "site": "dc"},
            {"name": "db-b", "address": "127.0.0.1", "site": "dc"},
        ],
        "host_pairs": [
            {
                "name": "credit", "service": "credit", "primary": "db-a", "standby": "db-b",
                "vip": "127.0.0.10/8",
                "database": {"port": port, "name": DATABASE, "user": "postgres"},
            }
        ],
        "backup_sets": [pitr],
    }  # fmt: skip
    path = work / "inventory.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def dsn(cluster: LocalCluster) -> str:
    # Over the socket as root, whom pg_ident maps to postgres (orchestrator.postgresql).
    return f"host={cluster.socket_dir} port={cluster.port} dbname={DATABASE} user=postgres"


def load_database(cluster: LocalCluster, size_mb: int) -> None:
    cluster.create_database(DATABASE)
    conn = psycopg2.connect(dsn(cluster))
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute(SCHEMA)
        conn.commit()
        loans = repayments = 0
        while True:
            cur.execute(LOANS, {"first": loans + 1, "last": loans + BATCH_ROWS})
            loans += BATCH_ROWS
            cur.execute(
                REPAYMENTS,
                {"loans": loans, "first": repayments + 1, "last": repayments + 2 * BATCH_ROWS},
            )
            repayments += 2 * BATCH_ROWS
            conn.commit()
            cur.execute("SELECT pg_database_size(current_database())")
            if cur.fetchone()[0] >= size_mb * 2**20:
                break
    again = psycopg2.connect(dsn(cluster))
    again.autocommit = True  # VACUUM runs outside a transaction
    with contextlib.closing(again), again.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("CHECKPOINT")


def write_wal(cluster: LocalCluster, wal_mb: int) -> int:
    """Repayments and balance updates, one small transaction at a time, until wal_mb of
    WAL has been written since the backup; then every segment archived."""
    conn = psycopg2.connect(dsn(cluster))
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("SELECT pg_current_wal_lsn(), max(id) FROM loans")
        start, loans = cur.fetchone()
        written, step = 0, 0
        while written < wal_mb * 2**20:
            first = (step * 5003) % (loans - 3000) + 1
            cur.execute(
                "UPDATE loans SET balance = balance - 1, status = 'repaying' "
                "WHERE id BETWEEN %s AND %s",
                (first, first + 2000),
            )
            cur.execute(
                REPAYMENTS,
                {"loans": loans, "first": step * 500 + 1, "last": step * 500 + 500},
            )
            conn.commit()
            step += 1
            if step % 20 == 0:
                cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (start,))
                written = int(cur.fetchone()[0])
                conn.commit()
        conn.autocommit = True
        cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
        last = cur.fetchone()[0]

        def archived() -> bool:
            cur.execute("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
            return str(cur.fetchone()[0]) >= last

        if not wait_until(archived, timeout=3600, interval=1):
            raise SystemExit(f"WAL {last} was not archived within an hour")
    return written


def write_raw_config(dr_config: Path, raw: Path, owner: pwd.struct_passwd) -> None:
    """dr's configuration with the cipher pass in it: what an operator restoring by hand
    would have (dr keeps it out of the file and passes it in the environment)."""
    text = dr_config.read_text().replace(
        "[global]\n", f"[global]\nrepo1-cipher-pass={CIPHER_PASS}\n"
    )
    raw.parent.mkdir(mode=0o755)
    raw.write_text(text)
    raw.chmod(0o600)
    os.chown(raw, owner.pw_uid, owner.pw_gid)


# ---- the rounds -----------------------------------------------------------------------


def bench(source: Source, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {
        k: [] for k in ("raw_restore", "raw_start", "raw", "dr_restore", "dr_start", "dr",
                        "dr_counts", "dr_with_counts")
    }  # fmt: skip
    for n in range(rounds):
        order = (raw_round, dr_round) if n % 2 == 0 else (dr_round, raw_round)
        for one in order:
            one(source, n, results)
        print(
            f"round {n + 1}: raw {results['raw'][-1]:.1f}s, dr {results['dr'][-1]:.1f}s "
            f"(+ row counts {results['dr_counts'][-1]:.1f}s)",
            flush=True,
        )
    return results


def raw_round(source: Source, n: int, results: dict[str, list[float]]) -> None:
    data = fresh_data_dir(source, f"raw-{n}")
    argv = [
        pgbackrest_program(), f"--config={source.raw_config}", "--stanza=credit",
        f"--pg1-path={data}", "--archive-mode=off", "restore",
    ]  # fmt: skip
    started = time.perf_counter()
    completed = subprocess.run(as_owner(argv, source.owner), capture_output=True, text=True)
    restored = time.perf_counter()
    if completed.returncode != 0:
        raise SystemExit(f"raw pgbackrest restore failed: {completed.stderr}")
    cluster = start_and_wait(data)
    ended = time.perf_counter()
    results["raw_restore"].append(restored - started)
    results["raw_start"].append(ended - restored)
    results["raw"].append(ended - started)
    finish(source, cluster, "raw")


def dr_round(source: Source, n: int, results: dict[str, list[float]]) -> None:
    data = fresh_data_dir(source, f"dr-{n}")
    started = time.perf_counter()
    restore_cluster(source.ctx, data, RecoveryTarget.latest(), repository=1, delta=True)
    restored = time.perf_counter()
    cluster = start_and_wait(data)
    ended = time.perf_counter()
    counts = table_counts(dsn(cluster))
    counted = time.perf_counter()
    results["dr_restore"].append(restored - started)
    results["dr_start"].append(ended - restored)
    results["dr"].append(ended - started)
    results["dr_counts"].append(counted - ended)
    results["dr_with_counts"].append(counted - started)
    if counts != source.counts:
        raise SystemExit(f"dr's restore holds {counts}, the source held {source.counts}")
    finish(source, cluster, "dr")


def fresh_data_dir(source: Source, name: str) -> Path:
    data = source.work / name / "data"
    data.parent.mkdir(mode=0o711)
    os.chown(data.parent, source.owner.pw_uid, source.owner.pw_gid)
    os.sync()
    # Neither side may read the repository from the page cache the other one filled.
    with contextlib.suppress(OSError):
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    return data


def start_and_wait(data: Path) -> LocalCluster:
    """Start the restored cluster; return once recovery has replayed the WAL and promoted."""
    cluster = LocalCluster(data, port=find_free_port(), name=f"dr-bench-{data.parent.name}")
    cluster.start(timeout=3600)
    if not wait_until(
        lambda: cluster.psql("SELECT pg_is_in_recovery()").strip() == "f",
        timeout=3600,
        interval=0.1,
    ):
        raise SystemExit(f"{data}: recovery did not end within an hour")
    return cluster


def finish(source: Source, cluster: LocalCluster, side: str) -> None:
    if side == "raw":
        counts = table_counts(dsn(cluster))
        if counts != source.counts:
            raise SystemExit(f"the raw restore holds {counts}, the source held {source.counts}")
    cluster.stop("immediate")
    shutil.rmtree(cluster.state_dir, ignore_errors=True)


def as_owner(argv: list[str], owner: pwd.struct_passwd) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups",
            "--", *argv]  # fmt: skip


def report(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(
        f"{args.size_mb} MB database, {args.wal_mb} MB of WAL after the base backup; "
        f"median of {args.rounds} rounds (seconds; every round in brackets):"
    )
    for name, value in med.items():
        each = ", ".join(f"{v:.2f}" for v in results[name])
        print(f"  {name:<16} {value:8.2f}   [{each}]")
    for label, ours in (("dr / raw", "dr"), ("dr with row counts / raw", "dr_with_counts")):
        ratio = med[ours] / med["raw"]
        fastest = min(results[ours]) / min(results["raw"])
        verdict = "met" if ratio <= 1.10 else "NOT met"
        print(f"  {label:<26} {ratio:.3f}  (fastest {fastest:.3f}; {verdict}: at most 1.10x)")


if __name__ == "__main__":
    main()
