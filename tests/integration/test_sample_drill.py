"""`make drill`'s path: the shipped example runbook over a real sshd on loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab import local_target
from orchestrator.local_machine import find_free_port, process_is_running

ROOT = Path(__file__).parent.parent.parent


@pytest.fixture
def target(tmp_path: Path):
    inventory = local_target.up(tmp_path / "target")
    yield inventory
    local_target.down(tmp_path / "target")


def _drill(inventory: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    service = tmp_path / "target" / "service"
    env = {**os.environ, "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3", "DR_LANG": "en"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli.main",
            "drill",
            "report-service-restart",
            "-i",
            str(inventory),
            "--auto-confirm",
            "-p",
            f"service_dir={service}",
            "-p",
            f"message_dir={service}/messages",
            "-p",
            f"port={find_free_port()}",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.integration
def test_sample_runbook_restores_the_service_over_real_ssh(target, tmp_path):
    result = _drill(target, tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "succeeded"
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["start-service"]["hosts"][0]["host"] == "credit-app-1"
    pid = steps["start-service"]["hosts"][0]["result"]["pid"]
    assert Path(f"/proc/{pid}").exists()  # the service really runs, started over SSH
    assert steps["service-answers"]["status"] == "succeeded"
    rto, rpo = doc["measurements"]["rto_seconds"], doc["measurements"]["rpo_seconds"]
    assert rto["verdict"] == "met" and 0 < rto["value"] < 900
    # the newest seeded report message is 10 minutes old: that is the data-loss window
    assert 590 < rpo["value"] < 700 and rpo["verdict"] == "met"


@pytest.mark.integration
def test_make_drill_output_names_the_run_and_its_rto(target, tmp_path):
    result = _drill(target, tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"run id: \d{8}-\d{6}-[0-9a-f]{6}", result.stderr)
    assert re.search(r"RTO achieved: [\d.]+s \(target 15m00s\) met", result.stdout)


def test_docs_example_is_the_shipped_runbook():
    """docs/runbooks.md shows the example runbook verbatim; this keeps them one."""
    doc = (ROOT / "docs" / "runbooks.md").read_text()
    source = (ROOT / "runbooks" / "report_service_restart.py").read_text()
    block = re.search(
        r"<!-- example:begin -->\n```python\n(.*?)```\n<!-- example:end -->", doc, re.S
    )
    assert block is not None
    assert block.group(1) == source


@pytest.mark.integration
def test_local_target_down_stops_its_sshd_from_another_process(tmp_path):
    state = tmp_path / "target"
    subprocess.run(
        [sys.executable, "-m", "lab.local_target", "up", str(state)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pid = int((state / "sshd" / "server.pid").read_text())
    assert Path(f"/proc/{pid}").exists()
    subprocess.run(
        [sys.executable, "-m", "lab.local_target", "down", str(state)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert not process_is_running(pid)
