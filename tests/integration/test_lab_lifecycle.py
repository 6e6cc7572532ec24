"""`dr lab up` is idempotent, and `dr lab down` leaves nothing, even after a crashed up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import netns
from lab.processes import command_line
from lab.state import LabState

pytestmark = [pytest.mark.integration, pytest.mark.exclusive_lab]
DR = [sys.executable, "-m", "orchestrator.cli.main"]


def _leftovers(state: LabState) -> list[str]:
    found = [f"namespace {ns}" for ns in netns.list_namespaces("drlab-")]
    root_links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    found += [
        f"link {line.split()[0]}"
        for line in root_links.splitlines()
        if line.startswith(("drlab", "dl"))
    ]
    marker = str(state.root)
    found += [
        f"process {p.name}: {command_line(int(p.name))}"
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and int(p.name) != os.getpid() and marker in command_line(int(p.name))
    ]
    mounts = Path("/proc/mounts").read_text()
    found += [f"mount {line}" for line in mounts.splitlines() if marker in line]
    if state.root.exists():
        found.append(f"state dir {state.root}")
    return found


@pytest.mark.parametrize("kill_after", [2.0, 6.0])
def test_down_after_a_crashed_up_leaves_nothing(kill_after: float):
    state = LabState()
    up = subprocess.Popen(
        [*DR, "lab", "up", "--loans", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    time.sleep(kill_after)
    os.killpg(up.pid, signal.SIGKILL)
    up.wait()
    down = subprocess.run([*DR, "lab", "down"], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert _leftovers(state) == []


def test_up_twice_then_down_leaves_nothing():
    state = LabState()
    try:
        for _ in range(2):
            up = subprocess.run(
                [*DR, "lab", "up", "--loans", "1000"], capture_output=True, text=True, timeout=300
            )
            assert up.returncode == 0, up.stderr
        status = subprocess.run([*DR, "lab", "status"], capture_output=True, text=True, timeout=60)
        assert "lab up" in status.stdout
    finally:
        down = subprocess.run([*DR, "lab", "down"], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert _leftovers(state) == []


def test_lab_refuses_to_build_without_root(monkeypatch, tmp_path):
    from lab.errors import LabError
    from lab.lab import Lab

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="must run as root"):
        Lab(LabState(tmp_path / "lab")).up()
    assert not (tmp_path / "lab").exists()
