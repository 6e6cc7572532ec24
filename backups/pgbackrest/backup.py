"""`backup --type=full|diff|incr` into one repository, and `expire` by the retention in
the configuration (backup runs expire itself when it ends; `expire` is for a change of
retention without a backup).

A backup goes to one repository at a time (`--repo`); WAL goes to all of them, pushed by
PostgreSQL. A diff or incr with no full before it in that repository is taken as a full
(pgBackRest warns "diff backup has been changed to full"); `info` tells what was made.
"""

from __future__ import annotations

from typing import Literal

from backups.pgbackrest.features import Feature, Version, has

BackupType = Literal["full", "diff", "incr"]
BACKUP_TYPES: tuple[BackupType, ...] = ("full", "diff", "incr")
# The annotation by which a `dr backup run` finds its own backups in `info`.
RUN_ANNOTATION = "dr-run"


def build_backup(
    kind: BackupType, repository: int, version: Version, *, run_id: str | None = None
) -> list[str]:
    if kind not in BACKUP_TYPES:
        raise ValueError(f"backup type {kind!r} is not one of {', '.join(BACKUP_TYPES)}")
    args = ["backup", f"--type={kind}", f"--repo={repository}"]
    if run_id is not None and has(version, Feature.BACKUP_ANNOTATION):
        args.append(f"--annotation={RUN_ANNOTATION}={run_id}")
    return args


def build_expire(repository: int) -> list[str]:
    return ["expire", f"--repo={repository}"]


def upgraded_to_full(stderr: str) -> bool:
    """Whether pgBackRest made a full backup instead of the diff or incr asked for."""
    return "has been changed to full" in stderr
