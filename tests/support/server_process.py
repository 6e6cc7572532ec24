"""Stopping a server a test started as a child process: TERM, then KILL if it lingers,
always reaped (no zombie left for the next test)."""

from __future__ import annotations

import subprocess

GRACE_S = 10


def stop_server(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
