"""The run document, read from the journal, and the one rule for the worst status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.journal import Journal
from orchestrator.journal.records import MeasurementRecord, RunRecord
from orchestrator.journal.run_document import run_document
from orchestrator.journal.statuses import WORST_FIRST, worst

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["succeeded", "failed", "succeeded"], "failed"),
        (["succeeded", "interrupted"], "interrupted"),
        (["failed", "interrupted"], "failed"),
        (["succeeded", "running"], "running"),
        (["waiting", "rolled_back"], "waiting"),
        (["succeeded", "rolled_back"], "rolled_back"),
        (["succeeded", "skipped"], "succeeded"),
        (["skipped", "skipped"], "skipped"),
        (["declined", "waiting"], "declined"),
        ([], "succeeded"),
    ],
)
def test_the_worst_status_is_the_first_in_one_order(statuses, expected):
    assert worst(statuses) == expected


def test_a_status_nobody_knows_is_never_read_as_done():
    assert worst(["succeeded", "something-new"]) == "something-new"


def test_every_step_status_the_engine_writes_has_a_rank():
    engine_writes = {"running", "succeeded", "failed", "skipped", "waiting", "declined"}
    assert engine_writes | {"rolled_back", "interrupted"} == set(WORST_FIRST)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    found = Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")
    found.create_run(
        RunRecord(
            id="r1",
            runbook="example",
            runbook_digest="d" * 64,
            mode="drill",
            status="running",
            inventory_path="/inv.yaml",
            inventory_digest="i" * 64,
            inventory_name="lab",
            environment="drill",
            started_by="duty-wang",
            started_at="2026-11-27T03:00:00+00:00",
        )
    )
    return found


def _step(journal: Journal, step: str, host: str, status: str, attempts: int = 1) -> None:
    for attempt in range(1, attempts + 1):
        journal.step_started("r1", step, host, kind="action", attempt=attempt)
    if status != "running":
        error = "exit 1" if status == "failed" else None
        journal.step_finished("r1", step, host, kind="action", status=status, error=error)


def test_a_fan_out_takes_its_worst_host_its_first_error_and_its_most_attempts(journal):
    _step(journal, "restart", "app-1", "succeeded")
    _step(journal, "restart", "app-2", "failed", attempts=3)
    _step(journal, "restart", "app-3", "succeeded")
    [step] = run_document(journal, "r1")["steps"]
    assert (step["status"], step["error"], step["attempts"]) == ("failed", "exit 1", 3)
    assert [h["host"] for h in step["hosts"]] == ["app-1", "app-2", "app-3"]
    assert step["finished_at"] == max(h["finished_at"] for h in step["hosts"])
    assert step["result"] is None


def test_a_fan_out_still_running_on_a_host_has_not_finished(journal):
    _step(journal, "restart", "app-1", "succeeded")
    _step(journal, "restart", "app-2", "running")
    [step] = run_document(journal, "r1")["steps"]
    assert (step["status"], step["finished_at"]) == ("running", None)


def test_a_step_without_hosts_is_its_own_row(journal):
    journal.step_finished(
        "r1", "skip-me", "", kind="action", status="skipped", result={"reason": "condition not met"}
    )
    [step] = run_document(journal, "r1")["steps"]
    assert (step["status"], step["hosts"], step["result"]) == (
        "skipped",
        [],
        {"reason": "condition not met"},
    )


def test_the_document_carries_what_the_drill_report_reads(journal):
    doc = run_document(journal, "r1")
    assert doc["runbook_digest"] == "d" * 64 and doc["drill"] is True
    assert doc["inventory"] == {
        "name": "lab",
        "path": "/inv.yaml",
        "environment": "drill",
        "digest": "i" * 64,
    }


def test_a_measurement_reads_met_or_not_met(journal):
    for name, value, met in (("rto_seconds", 2000.0, False), ("rpo_seconds", 10.0, True)):
        journal.record_measurement(
            "r1",
            MeasurementRecord(
                name=name,
                value_seconds=value,
                target_seconds=1800.0,
                met=met,
                source="runbook",
                detail={},
                recorded_at="2026-11-27T03:01:00+00:00",
            ),
        )
    found = run_document(journal, "r1")["measurements"]
    assert found["rto_seconds"]["verdict"] == "not met"
    assert found["rpo_seconds"]["verdict"] == "met"


def test_reading_a_run_document_loads_no_transport():
    """The reports read runs through this module; it must not drag in paramiko/netmiko.
    (The engine's words, orchestrator.engine.messages, are light: the engine package loads
    its machinery only when a name of it is used.)"""
    script = (
        "import sys\n"
        "import orchestrator.journal.run_document, orchestrator.reports.drill\n"
        "heavy = sorted(n for n in ('paramiko', 'netmiko', 'orchestrator.engine.engine') "
        "if n in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
