"""The Prometheus textfile (node_exporter's textfile collector): per backup set, how old
its newest good snapshot is, how its last backup and its last restore test went.

Snapshot age comes from the repository itself (backups.recovery_point), because that is what
a restore would use; durations, bytes and restore-test results come from the journal's
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

log = logging.getLogger(__name__)

TEXTFILE_NAME = "dr.prom"
SYSTEM_TEXTFILE_DIR = Path("/var/lib/node_exporter/textfile_collector")

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
}  # fmt: skip


@dataclass
class SetMetrics:
    backup_set: str
    values: dict[str, float] = field(default_factory=dict)


def default_textfile_dir() -> Path:
    """node_exporter's usual directory for root; a per-user one otherwise (not writable)."""
    if os.geteuid() == 0:
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
        if bset.rpo is not None:
            metrics.values["dr_backup_rpo_target_seconds"] = bset.rpo
        if (event := backups.get(bset.name)) is not None:
            _last_backup(event, metrics.values)
        if (event := tests.get(bset.name)) is not None:
            _last_restore_test(event, metrics.values)
        found.append(metrics)
    return found


def render(sets: list[SetMetrics]) -> str:
    lines = []
    for name, (kind, help_text) in METRICS.items():
        samples = [(s.backup_set, s.values[name]) for s in sets if name in s.values]
        if not samples:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f'{name}{{set="{_label(set_name)}"}} {_number(v)}' for set_name, v in samples]
    return "\n".join(lines) + "\n"


def write_textfile(directory: Path, text: str) -> Path:
    """Write atomically: node_exporter must never read half a file (temp + rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / TEXTFILE_NAME
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


def _last_backup(data: dict[str, Any], out: dict[str, float]) -> None:
    ok = data.get("status") == "ok" and not data.get("errors")
    out["dr_backup_last_success"] = 1 if ok else 0
    out["dr_backup_last_duration_seconds"] = float(data.get("duration_seconds") or 0)
    out["dr_backup_last_bytes"] = float(data.get("bytes") or 0)
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
