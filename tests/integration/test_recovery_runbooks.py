"""Recovery from backups on the lab, judged by the load generator's record, not by the
runbooks: restore-database to a moment, logical-error after a bad DELETE, site-loss.

The lab's pair archives through pgBackRest into the DC's repository and the offsite S3
one (archive_timeout 15 s); the load generator keeps writing through the VIP and logs
every acknowledgement with the row's commit time. Each test leaves the pair as `up`
built it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from lab.credit.observe import acknowledged_writes, longest_outage, lost_writes
from lab.logical_corruption import deleted_rows, load_record
from lab.pair_reset import reset_pair
from lab.topology import LabTopology
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until

pytestmark = pytest.mark.integration
DR = [sys.executable, "-m", "orchestrator.cli.main"]
TOPO = LabTopology(branches=2)
# Past a point in time, how long until WAL beyond it is surely in both repositories:
# archive_timeout (15 s) closes the segment, the async push follows.
ARCHIVED_WITHIN_S = 40
# Commit times and acknowledgements are a few milliseconds apart; the issue allows 1 s.
SLACK = timedelta(seconds=1)


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }


def _inventory(lab: Any, tmp_path: Path) -> str:
    data = yaml.safe_load(lab.state.inventory_file.read_text())
    data["defaults"]["ssh"]["connect_timeout"] = 1
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return str(path)


def _drill(
    tmp_path: Path, inventory: str, runbook: str, *params: str, incident: str | None = None
) -> dict[str, Any]:
    args = [item for param in params for item in ("-p", param)]
    if incident is not None:
        args += ["--incident", incident]
    result = subprocess.run(
        [*DR, "drill", runbook, "-i", inventory, "--auto-confirm", "--json", *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    document = json.loads(result.stdout) if result.stdout.strip() else {}
    assert result.returncode == 0, (document, result.stderr[-3000:])
    assert document["status"] == "succeeded", document
    return document


def _open_incident(tmp_path: Path, inventory: str, began: datetime) -> str:
    """The duty operator declares the incident from when the branches lost service."""
    result = subprocess.run(
        [
            *DR,
            "incident",
            "open",
            "-i",
            inventory,
            "--category",
            "equipment",
            "--level",
            "red",
            "--summary",
            "data centre lost",
            "--json",
            "--started-at",
            began.isoformat(),
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(result.stdout)["id"])


def _facts(tmp_path: Path, run_id: str) -> dict[str, Any]:
    journal = Journal(_env(tmp_path)["DR_DB"])
    return {e.data["key"]: e.data["value"] for e in journal.events(run_id, kinds=("fact",))}


def _loadgen_log(lab: Any) -> Path:
    return Path(lab.state.observe / "loadgen.jsonl")


@pytest.fixture
def pair(lab: Any, tmp_path: Path) -> Any:
    reset_pair(lab)
    _differential_backup(lab, tmp_path)
    yield lab
    reset_pair(lab)


def _differential_backup(lab: Any, tmp_path: Path) -> None:
    """What the scheduler's cron does daily: a base backup near now, so that a restore
    replays minutes of WAL, not everything since `dr lab up` (after a full lab lane,
    twenty minutes of cutovers and rebuilds)."""
    journal = f"sqlite:///{tmp_path}/backups.sqlite3"
    inventory = str(lab.state.inventory_file)
    result = subprocess.run(
        [*DR, "backup", "run", "credit-pitr", "-i", inventory, "--db", journal, "--type", "diff"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])


@pytest.fixture
def already_lost(pair: Any) -> set[tuple[str, int]]:
    """Acknowledged writes the live pair lacks before the test begins. The load
    generator's log spans the lab session, and earlier drills (an asynchronous cutover)
    lost writes on purpose; each test judges only what it loses itself."""
    lost = lost_writes(_loadgen_log(pair), pair.credit_dsn(TOPO, "dc-a"))
    return {(w.kind, w.id) for w in lost}


def test_restore_to_a_moment_holds_every_write_before_it_and_none_after(
    pair: Any, already_lost: set[tuple[str, int]], tmp_path: Path
) -> None:
    lab = pair
    inventory = _inventory(lab, tmp_path)
    time.sleep(8)  # writes before the point
    zone = ZoneInfo("Asia/Shanghai")
    point = datetime.now(zone).replace(microsecond=0)
    time.sleep(ARCHIVED_WITHIN_S)  # writes after it, and their WAL archived

    log_offset = _log_size(lab)
    _drill(
        tmp_path,
        inventory,
        "restore-database",
        f"to={point:%Y-%m-%d %H:%M:%S}",
        "target=backup",
        "move_service=no",
    )

    log = _loadgen_log(lab)
    restored = lab.credit_dsn(TOPO, "backup")
    assert list(lost_writes(log, restored, until=point - SLACK).excluding(already_lost)) == []
    # One reading of the log for both sides: the load generator goes on writing, and a
    # write acknowledged between two readings would look kept without being looked up.
    seen_until = datetime.now(UTC)
    missing = {(w.kind, w.id) for w in lost_writes(log, restored, until=seen_until)}
    # Writes whose transaction began after the point (row_at is the database's now(), a
    # lower bound of the commit; committed_at is read after the commit returned, and can
    # trail it by seconds when the service is starved of CPU).
    after = [
        w
        for w in acknowledged_writes(log, until=seen_until)
        if w.row_at and w.row_at > point + SLACK
    ]
    assert after, "the load generator wrote nothing after the point"
    # The live pair was not touched: dc-a still serves through the VIP.
    assert lab.credit_service_running("dc-a")
    kept_after = [w for w in after if (w.kind, w.id) not in missing]
    assert not kept_after, (
        f"restored copy holds {len(kept_after)} writes after {point}: {kept_after[:3]}\n"
        + _recovery_story(lab, log_offset)
    )


def _log_size(lab: Any) -> int:
    log_file = lab.postgres(TOPO, "backup").log_file
    return log_file.stat().st_size if log_file.exists() else 0


# What the backup host's server said about its recovery, should a restored copy ever hold
# writes past its point: which backup, which timeline, where it stopped.
_RECOVERY_WORDS = ("recovery", "timeline", "consistent", "redo", "stopping", "FATAL")


def _recovery_story(lab: Any, offset: int) -> str:
    with lab.postgres(TOPO, "backup").log_file.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if any(w in line for w in _RECOVERY_WORDS)]
    return "\n".join(lines[:40])


def test_logical_error_puts_back_every_row_the_bad_delete_destroyed(
    pair: Any, already_lost: set[tuple[str, int]], tmp_path: Path
) -> None:
    lab = pair
    inventory = _inventory(lab, tmp_path)
    time.sleep(5)
    lab.fault("logical-corruption", [])
    record = load_record(lab.state)
    destroyed = deleted_rows(record)
    assert destroyed and record.deleted["repayments"] == len(destroyed)
    live = lab.credit_dsn(TOPO, "dc-a")
    # Acknowledged repayments are gone from the live database.
    assert len(lost_writes(_loadgen_log(lab), live).excluding(already_lost)) > 0
    time.sleep(ARCHIVED_WITHIN_S)
    try:
        document = _drill(
            tmp_path, inventory, "logical-error", f"before_xid={record.xid}", "copy_on=backup"
        )
        facts = _facts(tmp_path, document["id"])
        comparison = facts["logical_error:comparison"]
        put_back = facts["logical_error:put_back"]
        assert comparison["removed"] == len(destroyed)
        assert put_back["inserted"] == len(destroyed)
        # Every acknowledged write is in the live database again: nothing was lost, and
        # the runbook says so too.
        assert list(lost_writes(_loadgen_log(lab), live).excluding(already_lost)) == []
        assert document["measurements"]["rpo_seconds"]["value"] == 0
    finally:
        lab.heal("logical-corruption", [])


def test_site_loss_moves_the_service_to_the_backup_room(
    pair: Any, already_lost: set[tuple[str, int]], tmp_path: Path
) -> None:
    lab = pair
    inventory = _inventory(lab, tmp_path)
    time.sleep(5)
    lost_at = datetime.now().astimezone()
    lab.fault("site-loss", [])
    try:
        incident = _open_incident(tmp_path, inventory, lost_at)
        document = _drill(tmp_path, inventory, "site-loss", incident=incident)
        log = _loadgen_log(lab)
        backup = lab.credit_dsn(TOPO, "backup")
        lost = lost_writes(log, backup, until=lost_at + timedelta(seconds=2))
        lost = lost.excluding(already_lost)
        # What was lost is what the last archive_timeout (15 s) had not yet closed, plus
        # the asynchronous push behind it: well within the minute the issue allows.
        assert 0 < lost.seconds <= 30
        facts = _facts(tmp_path, document["id"])
        assert facts.get("site_loss:recovered:credit-db") is True
        recovered_to = datetime.fromisoformat(facts["site_loss:recovered_to:credit-pitr"])
        # The recovery point is the boundary the load generator sees: every lost write
        # was committed after it, every write committed before it is kept.
        assert all(w.committed_at is None or w.committed_at > recovered_to for w in lost)
        kept = acknowledged_writes(log, until=lost_at)
        before = {
            (w.kind, w.id)
            for w in kept
            if w.committed_at
            and w.committed_at <= recovered_to
            and (w.kind, w.id) not in already_lost
        }
        assert before and before.isdisjoint({(w.kind, w.id) for w in lost})
        # The runbook's RPO, from the incident's outage start, agrees with the load
        # generator's: the span of lost acknowledged writes (writes come every 0.2 s).
        rpo = document["measurements"]["rpo_seconds"]
        assert rpo["detail"]["lost_at_source"] == f"incident {incident}"
        assert abs(rpo["value"] - lost.seconds) <= 1.5, (rpo, lost.seconds, len(lost))
        # The branches see the service answer again, through the VIP on the backup host.
        assert wait_until(lambda: lab.credit_service_running("backup"), timeout=30)
        outage = longest_outage(lab.state.observe / "prober-branch-1.jsonl", since=lost_at)
        assert outage is not None and outage.resolved
    finally:
        lab.heal("site-loss", [])
