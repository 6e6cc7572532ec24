"""Servers a test starts as child processes: the environment they get (a journal of
their own with a fresh key), and stopping them: TERM, then KILL if it lingers, always
reaped (no zombie left for the next test)."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

GRACE_S = 10


def stop_server(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_env(directory: Path, **extra: str) -> dict[str, str]:
    """This environment, with a journal in `directory` keyed by a fresh key file, its
    state directory there too, English, and no operator name carried over."""
    key = directory / "journal.key"
    key.write_text(secrets.token_hex(32))
    key.chmod(0o600)
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{directory}/journal.sqlite3",
        "DR_JOURNAL_KEY": f"file:{key}",
        "DR_LANG": "en",
        "XDG_STATE_HOME": str(directory / "state"),
        **extra,
    }
    env.pop("DR_OPERATOR", None)
    return env
