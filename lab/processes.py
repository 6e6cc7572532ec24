"""Starting and stopping the lab's long-running programs, from any process.

A lab process is started in its own session (so stopping it never touches `dr`), maybe
inside a network namespace, and is identified later by pid *and* a marker in its
command line, so a recycled pid is never mistaken for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab.errors import LabError
from orchestrator.local_machine import process_is_running, wait_until

STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class LabProcess:
    """What the lab records of a process it started."""

    name: str
    pid: int
    marker: str  # a string that appears in the process's command line
    netns: str | None = None
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_record(path: Path, process: LabProcess) -> None:
    """Keep what identifies `process` in a file, so another `dr` can find and stop it."""
    path.write_text(json.dumps(process.to_dict()) + "\n")


def load_record(path: Path) -> LabProcess | None:
    """The process recorded in `path`, or None when there is no (readable) record."""
    try:
        return LabProcess(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def stop_recorded(path: Path) -> None:
    """Stop the recorded process if it still runs, and forget it; idempotent."""
    process = load_record(path)
    if process is not None:
        stop(process)
    path.unlink(missing_ok=True)


def command_line(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def is_ours(process: LabProcess) -> bool:
    return process_is_running(process.pid) and process.marker in command_line(process.pid)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (daemons that setsid() escape a process-group kill)."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def terminate(pids: list[int], grace: float = STOP_GRACE_S) -> None:
    """TERM, wait up to `grace`, then KILL what is left."""
    signal_all(pids, signal.SIGTERM)
    if not wait_until(lambda: not any(process_is_running(p) for p in pids), timeout=grace):
        signal_all(pids, signal.SIGKILL)
        wait_until(lambda: not any(process_is_running(p) for p in pids), timeout=grace)


def start(
    name: str,
    argv: list[str],
    *,
    marker: str,
    log: Path,
    netns: str | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> LabProcess:
    """Start `argv` detached in its own session; output appended to `log`."""
    command = list(argv)
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *command]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                env=env,
                cwd="/",
            )
        except OSError as err:
            raise LabError(f"cannot start {name} ({command[0]}): {err}") from err
    return LabProcess(name=name, pid=child.pid, marker=marker, netns=netns, log=str(log))


def stop(process: LabProcess) -> None:
    if is_ours(process):
        terminate([process.pid, *descendants(process.pid)])


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
