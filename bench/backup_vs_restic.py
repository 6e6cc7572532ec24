"""`dr backup run` and `dr restore-test` against the raw tools, on the same data, one run.

Targets (issue "backups"): the wrapper within 5 % of raw restic. On >= 1 GiB of data
(default 1 GiB: a few thousand report-message-sized files and large incompressible
blobs), each repeat, in alternating order to spread the machine's noise:
  - floor:     `cp -a DATA COPY`
  - backup:    raw `restic backup DATA`  vs  `dr backup run SET`, each into a new repository
  - same work: raw `restic backup DATA` and `sha256sum` of every file side by side (what
               dr's manifest needed before it hashed with BLAKE3, which costs less per
               byte), into a third repository: the raw tools doing about what dr does
  - unchanged: the same again, nothing changed since (a daily run's usual case: restic
               skips files by their metadata, dr reuses its hashes the same way)
  - in process: `run_backup()` as the scheduler's daemon calls it, into a third new
               repository: the wrapper's own cost without a Python start
  - restore:   raw `restic restore latest` + `sha256sum -c` over every file
               vs `dr restore-test SET` (restore + BLAKE3 of every file against the
               manifest; a files-only set, so no database step)
`dr backup run` also hashes every file for the manifest (BLAKE3), which raw restic does
not do (beside restic, at lower priority), and a `dr` command starts a Python process
that loads the inventory before restic can start (~0.5 s here).

    .venv/bin/python bench/backup_vs_restic.py [--gib 1] [--repeat 3] [--workdir DIR]
        [--restic-cores N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

PASSWORD = "bench-password-not-secret"
BLOB = 8 << 20  # 8 MiB files carry the bulk; small files the report messages
SMALL_FILES = 5000


def make_data(root: Path, gib: float) -> None:
    (root / "messages").mkdir(parents=True)
    (root / "blobs").mkdir()
    for n in range(SMALL_FILES):
        (root / "messages" / f"R{n:06d}.txt").write_text(
            f"LOAN_OPEN|org|{n}|borrower|name|10|id|1000.00|0.05|12|open|branch-1|2026\n" * 8
        )
    for n in range(int(gib * (1 << 30)) // BLOB):
        (root / "blobs" / f"blob-{n:04d}.bin").write_bytes(os.urandom(BLOB))


def timed(action: Callable[[], None]) -> float:
    # Every run writes ~1 GiB and restic fsyncs each pack: the previous run's dirty pages
    # must not be the next run's flush.
    os.sync()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed ({result.returncode}):\n{result.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--restic-cores",
        type=int,
        default=None,
        help="GOMAXPROCS for every restic (raw and dr's alike): stands for a machine "
        "where restic leaves cores free, as on a server with more cores than this one",
    )
    parser.add_argument(
        "--without-hashing",
        action="store_true",
        help="also an in-process run whose manifest lists no files (an experiment: what "
        "the hashing costs beside restic)",
    )
    args = parser.parse_args()
    if args.restic_cores is not None:
        os.environ["GOMAXPROCS"] = str(args.restic_cores)
    work = Path(tempfile.mkdtemp(prefix="dr-bench-", dir=args.workdir))
    try:
        results = bench(work, args.gib, args.repeat, without_hashing=args.without_hashing)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, args.gib, args.repeat)


def bench(
    work: Path, gib: float, repeat: int, *, without_hashing: bool = False
) -> dict[str, list[float]]:
    data = work / "data"
    make_data(data, gib)
    (work / "pass").write_text(PASSWORD + "\n")
    (work / "pass").chmod(0o600)
    base_env = {
        **os.environ,
        "RESTIC_PASSWORD_FILE": str(work / "pass"),
        "XDG_STATE_HOME": str(work / "state"),
        "DR_DB": f"sqlite:///{work}/j.db",
    }
    sums = work / "SHA256SUMS"
    run(
        ["bash", "-c", f"cd {data} && find . -type f -print0 | xargs -0 sha256sum > {sums}"],
        base_env,
    )
    results: dict[str, list[float]] = {
        k: []
        for k in (
            "cp",
            "restic_backup",
            "dr_backup",
            "restic_and_sha256sum",
            "restic_unchanged",
            "dr_unchanged",
            "dr_in_process",
            "dr_in_process_no_hashes",
            "restic_restore_verify",
            "dr_restore_test",
        )
    }
    for n in range(repeat):
        one_repeat(n, work, data, sums, base_env, results, without_hashing)
    return results


def one_repeat(
    n: int,
    work: Path,
    data: Path,
    sums: Path,
    base_env: dict[str, str],
    results: dict[str, list[float]],
    without_hashing: bool,
) -> None:
    raw_repo, dr_repo = work / f"raw-{n}", work / f"dr-{n}"
    inventory = write_inventory(work, dr_repo, data, n)
    raw_env = {**base_env, "RESTIC_REPOSITORY": str(raw_repo)}
    run(["restic", "init"], raw_env)
    run(dr_cli("backup", "init", "bench", "-i", str(inventory)), base_env)
    copy = work / "copy"
    results["cp"].append(timed(lambda: run(["cp", "-a", str(data), str(copy)], base_env)))
    shutil.rmtree(copy)

    def raw_backup() -> None:
        run(["restic", "backup", "-q", str(data)], raw_env)

    def dr_backup() -> None:
        run(dr_cli("backup", "run", "bench", "-i", str(inventory)), base_env)

    def raw_backup_and_hashes() -> None:
        both = (
            f"restic backup -q {shlex.quote(str(data))} & "
            f"find {shlex.quote(str(data))} -type f -print0 | xargs -0 sha256sum >/dev/null; "
            "wait $!"
        )
        run(["bash", "-c", both], {**raw_env, "RESTIC_REPOSITORY": str(same_work_repo)})

    same_work_repo = work / f"raw-same-work-{n}"
    run(["restic", "init"], {**raw_env, "RESTIC_REPOSITORY": str(same_work_repo)})
    first = [
        ("restic_backup", raw_backup),
        ("dr_backup", dr_backup),
        ("restic_and_sha256sum", raw_backup_and_hashes),
    ]
    for name, action in first if n % 2 == 0 else first[::-1]:
        results[name].append(timed(action))
    shutil.rmtree(same_work_repo)
    again = [("restic_unchanged", raw_backup), ("dr_unchanged", dr_backup)]
    for name, action in again if n % 2 == 0 else again[::-1]:
        results[name].append(timed(action))
    results["dr_in_process"].append(in_process_backup(work, data, n, base_env))
    if without_hashing:
        results["dr_in_process_no_hashes"].append(
            in_process_backup(work, data, n, base_env, hashing=False)
        )
    target = work / "restored"

    def raw_restore() -> None:
        run(["restic", "restore", "latest", "--target", str(target)], raw_env)
        run(
            ["sha256sum", "--quiet", "-c", str(sums)],
            base_env,
            cwd=target / str(data).lstrip("/"),
        )
        shutil.rmtree(target)

    restores = [
        ("restic_restore_verify", raw_restore),
        (
            "dr_restore_test",
            lambda: run(dr_cli("restore-test", "bench", "-i", str(inventory)), base_env),
        ),
    ]
    for name, action in restores if n % 2 == 0 else restores[::-1]:
        results[name].append(timed(action))
    shutil.rmtree(raw_repo)
    shutil.rmtree(dr_repo)


def in_process_backup(
    work: Path, data: Path, n: int, base_env: dict[str, str], *, hashing: bool = True
) -> float:
    """A first backup into a new repository through `run_backup()`, in this process (the
    imports are already done, as in the scheduler's daemon). `hashing=False` is an
    experiment, not a mode of dr: the manifest lists no files, to show what the hashing
    alone costs beside restic."""
    from backups import manifest
    from backups.actions.init import init_set
    from backups.actions.run import run_backup
    from backups.context import BackupContext
    from orchestrator.inventory import load_inventory

    repo = work / f"dr-in-process-{n}-{hashing}"
    inventory = load_inventory(write_inventory(work, repo, data, n, name="in-process"))
    saved = dict(os.environ)
    os.environ.update(base_env)
    try:
        init_set(BackupContext.for_set(inventory, "bench"))
        ctx = BackupContext.for_set(inventory, "bench")
        hash_tree = manifest.hash_tree
        if not hashing:
            manifest.hash_tree = lambda paths, cache=None: []  # type: ignore[assignment]
        os.sync()
        started = time.perf_counter()
        result = run_backup(ctx)
        seconds = time.perf_counter() - started
    finally:
        manifest.hash_tree = hash_tree  # type: ignore[assignment]
        os.environ.clear()
        os.environ.update(saved)
    if result.status != "ok":
        raise SystemExit(f"in-process backup failed: {result.errors}")
    shutil.rmtree(repo)
    return seconds


def dr_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator.cli.main", *args]


def write_inventory(work: Path, repo: Path, data: Path, n: int, name: str = "cli") -> Path:
    document = {
        "name": "bench",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"}],
        "backup_sets": [
            {
                "name": "bench",
                "host": "db-a",
                "repository": str(repo),
                "password": f"file:{work / 'pass'}",
                "paths": [str(data)],
                "restore_test": {"rto": "1h", "rpo": "1d"},
            }
        ],
    }
    path = work / f"inventory-{name}-{n}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def report(results: dict[str, list[float]], gib: float, repeat: int) -> None:
    results = {k: v for k, v in results.items() if v}
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"{gib:g} GiB, median of {repeat} (seconds; every repeat in brackets):")
    for name, value in med.items():
        each = ", ".join(f"{v:.2f}" for v in results[name])
        print(f"  {name:<24} {value:8.2f}   [{each}]")
    rows = [
        ("dr backup / restic backup", "dr_backup", "restic_backup"),
        ("  / restic backup + sha256sum beside it", "dr_backup", "restic_and_sha256sum"),
        ("  unchanged data, again", "dr_unchanged", "restic_unchanged"),
        ("  in process (scheduler)", "dr_in_process", "restic_backup"),
        ("  in process, hashing left out (experiment)", "dr_in_process_no_hashes", "restic_backup"),
        ("dr restore-test / restic restore + sha256", "dr_restore_test", "restic_restore_verify"),
    ]
    for label, ours, theirs in rows:
        if ours not in med:
            continue
        ratio = med[ours] / med[theirs]
        # Other work on a 2-core machine moves single runs by seconds; the ratio of the
        # fastest runs is the least disturbed view of the wrapper's own cost.
        fastest = min(results[ours]) / min(results[theirs])
        verdict = "met" if ratio <= 1.05 else "NOT met"
        print(f"  {label:<42} {ratio:.3f}  (fastest {fastest:.3f}; {verdict}: within 5 %)")
    print(f"  restic backup / cp -a (floor):             {med['restic_backup'] / med['cp']:.2f}")


if __name__ == "__main__":
    main()
