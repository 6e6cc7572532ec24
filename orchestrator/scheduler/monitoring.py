"""The Prometheus textfile (node_exporter's textfile collector): per backup set, how old
its newest good snapshot is, how its last backup and its last restore test went.

Snapshot age comes from the repository itself (backups.recovery_point), because that is what
a restore would use (a postgres-pitr set: its newest archived WAL, per repository too:
pitr_metrics); durations, bytes and restore-test results come from the journal's
`backup.finished` and `restore_test.finished` events. A repository that cannot be read
gets `dr_backup_repository_up 0` and no age, rather than a stale or invented one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backups.context import BackupContext
from backups.recovery_point import read_recovery_point
from orchestrator.errors import DrError
from orchestrator.inventory import BackupSet, Inventory
from orchestrator.journal import Journal
from orchestrator.scheduler import pitr_metrics

log = logging.getLogger(__name__)

TEXTFILE_NAME = "dr.prom"
# The directory Debian's prometheus-node-exporter reads (--collector.textfile.directory
# defaults to it there); ansible/ lets the scheduler's account write in it.
SYSTEM_TEXTFILE_DIR = Path("/var/lib/prometheus/node-exporter")

# name -> (type, help); the order here is the order in the file.
METRICS: dict[str, tuple[str, str]] = {
    "dr_backup_repository_up": ("gauge", "1 if the set's repository could be read."),
    "dr_backup_newest_snapshot_age_seconds": (
        "gauge", "Age of the set's newest good (status ok) backup run."),
    "dr_backup_rpo_target_seconds": ("gauge", "The set's RPO target."),
    "dr_backup_last_success": ("gauge", "1 if the set's last backup run succeeded."),
    "dr_backup_last_duration_seconds": ("gauge", "Duration of the set's last backup run."),
    "dr_backup_last_bytes": ("gauge", "Bytes read by the set's last backup run."),
    "dr_backup_last_timestamp_seconds": ("gauge", "When the set's last backup run finished."),
    "dr_restore_test_last_success": ("gauge", "1 if the set's last restore test passed."),
    "dr_restore_test_last_duration_seconds": ("gauge", "Duration of the last restore test."),
    "dr_restore_test_last_timestamp_seconds": ("gauge", "When the last restore test finished."),
    # postgres-pitr sets: per repository, and their scheduled checks.
    "dr_pitr_repository_up": ("gauge", "1 if the repository of a postgres-pitr set could be read."),
    "dr_pitr_newest_wal_age_seconds": (
        "gauge", "Age of the newest WAL segment archived in the repository (its RPO clock)."),
    "dr_pitr_check_last_success": ("gauge", "1 if the set's last pgbackrest check passed."),
    "dr_pitr_check_last_timestamp_seconds": ("gauge", "When the last pgbackrest check ran."),
    "dr_pitr_verify_last_success": ("gauge", "1 if the last pgbackrest verify found no error."),
    "dr_pitr_verify_last_timestamp_seconds": ("gauge", "When the last pgbackrest verify ran."),
}  # fmt: skip


@dataclass
class SetMetrics:
    backup_set: str
    values: dict[str, float] = field(default_factory=dict)
    # A postgres-pitr set's figures per repository (label `repository`).
    repositories: dict[int, dict[str, float]] = field(default_factory=dict)


def default_textfile_dir() -> Path:
    """Debian's node_exporter directory for root and for an account allowed to write in
    it (ansible/'s scheduler role lets the `dr` account); a per-user one otherwise."""
    if os.geteuid() == 0 or os.access(SYSTEM_TEXTFILE_DIR, os.W_OK | os.X_OK):
        return SYSTEM_TEXTFILE_DIR
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dr" / "textfile"


def collect(
    inventory: Inventory, journal: Journal, *, now: datetime | None = None
) -> list[SetMetrics]:
    moment = now or datetime.now(UTC)
    backups = _latest_by_set(journal, "backup.finished")
    tests = _latest_by_set(journal, "restore_test.finished")
    found = []
    for bset in inventory.restic_sets:
        metrics = SetMetrics(bset.name)
        _snapshot_age(inventory, bset, moment, metrics.values)
        found.append(metrics)
    checks = _latest_checks(journal)
    for pset in inventory.pitr_sets:
        metrics = SetMetrics(pset.name)
        pitr_metrics.archive_ages(inventory, pset, moment, metrics.values, metrics.repositories)
        for part, checked in checks.get(pset.name, {}).items():
            metrics.values[f"dr_pitr_{part}_last_success"] = 1 if checked.get("ok") else 0
            metrics.values[f"dr_pitr_{part}_last_timestamp_seconds"] = _timestamp(checked["_at"])
        found.append(metrics)
    rpo = {s.name: s.rpo for s in inventory.backup_sets}
    for metrics in found:
        if (target := rpo.get(metrics.backup_set)) is not None:
            metrics.values["dr_backup_rpo_target_seconds"] = target
        if (event := backups.get(metrics.backup_set)) is not None:
            _last_backup(event, metrics.values)
        if (event := tests.get(metrics.backup_set)) is not None:
            _last_restore_test(event, metrics.values)
    return found


def render(sets: list[SetMetrics]) -> str:
    lines = []
    for name, (kind, help_text) in METRICS.items():
        samples = [
            (f'set="{_label(s.backup_set)}"', s.values[name]) for s in sets if name in s.values
        ]
        samples += [
            (f'set="{_label(s.backup_set)}",repository="{number}"', values[name])
            for s in sets
            for number, values in sorted(s.repositories.items())
            if name in values
        ]
        if not samples:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{labels}}} {_number(v)}" for labels, v in samples]
    return "\n".join(lines) + "\n"


def write_textfile(directory: Path, text: str, name: str = TEXTFILE_NAME) -> Path:
    """Write atomically: node_exporter must never read half a file (temp + rename).
    `name`: another job's own file beside ours (the lag watch's)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    # The temporary name must not end in .prom, or the collector could pick it up.
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".dr.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # node_exporter usually runs as another user
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def export(inventory: Inventory, journal: Journal, directory: Path) -> Path:
    return write_textfile(directory, render(collect(inventory, journal)))


def _snapshot_age(
    inventory: Inventory, bset: BackupSet, now: datetime, out: dict[str, float]
) -> None:
    try:
        session = BackupContext.for_set(inventory, bset.name).session()
        point = read_recovery_point(session, bset, now)
    except DrError as err:
        log.warning(
            "backup set %s: repository not readable for metrics: %s", bset.name, err.message
        )
        out["dr_backup_repository_up"] = 0
        return
    out["dr_backup_repository_up"] = 1
    if point.age_seconds is not None:
        out["dr_backup_newest_snapshot_age_seconds"] = point.age_seconds


def _latest_by_set(journal: Journal, kind: str) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for event in journal.events(kinds=(kind,)):  # ordered by seq: the last one wins
        name = event.data.get("backup_set")
        if isinstance(name, str):
            latest[name] = {**event.data, "_at": event.at}
    return latest


def _latest_checks(journal: Journal) -> dict[str, dict[str, dict[str, Any]]]:
    """Per pitr set, its last `check` and last `verify` (from `backup.checked`)."""
    latest: dict[str, dict[str, dict[str, Any]]] = {}
    for event in journal.events(kinds=("backup.checked",)):
        name = event.data.get("backup_set")
        if event.data.get("kind") != "postgres-pitr" or not isinstance(name, str):
            continue
        for part in event.data.get("parts") or ("check", "verify"):
            latest.setdefault(name, {})[part] = {**event.data, "_at": event.at}
    return latest


def _last_backup(data: dict[str, Any], out: dict[str, float]) -> None:
    ok = data.get("status") == "ok" and not data.get("errors")
    out["dr_backup_last_success"] = 1 if ok else 0
    out["dr_backup_last_duration_seconds"] = float(data.get("duration_seconds") or 0)
    # A pitr run adds a base backup to each repository: what they added, together.
    added = sum(int(b.get("repository_added_bytes") or 0) for b in data.get("backups") or ())
    out["dr_backup_last_bytes"] = float(data.get("bytes") or added)
    out["dr_backup_last_timestamp_seconds"] = _timestamp(data.get("finished_at") or data["_at"])


def _last_restore_test(data: dict[str, Any], out: dict[str, float]) -> None:
    # The event is backups.restore.record.RestoreTestRecord: outcome "passed" or "failed".
    out["dr_restore_test_last_success"] = 1 if data.get("outcome") == "passed" else 0
    finished = _timestamp(data.get("finished_at") or data["_at"])
    if data.get("started_at"):
        out["dr_restore_test_last_duration_seconds"] = finished - _timestamp(data["started_at"])
    out["dr_restore_test_last_timestamp_seconds"] = finished


def _timestamp(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
