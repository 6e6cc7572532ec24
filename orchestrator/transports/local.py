"""Local transport: run a program on the orchestrator's own machine (a vendor's IPMI or
PDU tool that fences a host, a site's own script).

The same contract as the SSH transport, so a runbook judges both alike:
- A program that ran and exited non-zero is a *result*, never an exception.
- A program that cannot be started, or outlives its timeout, raises `TransportError`
  saying which and what to check. On timeout its whole process group gets TERM, then
  KILL after a grace: a vendor tool's children must not outlive the step.
- A command line is split as a shell would split it, but no shell runs it: the
  inventory's words (a host name, an address) cannot become shell syntax. A command
  that needs a pipe says `sh -c '...'` itself.
- Secrets travel through `stdin` or `env`, never the command line.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from orchestrator.errors import TransportError
from orchestrator.transports.ssh import CommandResult

# What a command result names as its host.
LOCAL_HOST = "local"
# A timed-out program gets TERM, then this long to exit, then KILL.
KILL_GRACE_S = 2.0


def command_line(command: str | Sequence[str]) -> str:
    """The command as the journal shows it."""
    return command if isinstance(command, str) else shlex.join(command)


def run_local(
    command: str | Sequence[str],
    *,
    timeout: float | None = None,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Run `command` here and return what it did; `env` adds to our own environment."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    shown = command_line(command)
    if not argv:
        raise TransportError("an empty local command was asked for; check the inventory")
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env} if env else None,
            # Its own process group, so a timeout stops the children too.
            start_new_session=True,
        )
    except OSError as err:
        raise TransportError(
            f"`{shown}` could not be started on this machine: {err.strerror or err}; "
            f"check that {argv[0]} is installed and executable"
        ) from None
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise TransportError(
            f"`{shown}` did not finish within {timeout:g}s on this machine and was "
            "stopped; it may or may not have taken effect, check before retrying"
        ) from None
    return CommandResult(
        host=LOCAL_HOST,
        command=shown,
        exited=process.returncode,
        stdout=stdout,
        stderr=stderr,
        duration_s=time.monotonic() - started,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    """TERM the process group, then KILL it if it has not gone after the grace. A child
    that left the group and holds our pipes is not waited for beyond a second grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.communicate(timeout=KILL_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue
