"""One remote command over an SSH channel: the command line the host runs (its deadline
and its environment), the exchange of stdin and output, and the result it leaves."""

from __future__ import annotations

import re
import select
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import TransportError

if TYPE_CHECKING:
    import paramiko

    from orchestrator.transports.ssh_connect import SshEndpoint

RECORD_OUTPUT_LIMIT = 64 * 1024
# A timed-out remote command gets TERM, then this long to exit, then KILL.
KILL_GRACE_S = 2
# How a command stopped by coreutils `timeout` ends: 124 after TERM worked; after KILL,
# `timeout` kills its own process group, itself included, so the session ends by a signal,
# which paramiko reports as -1 (137 if a shell stood between).
_REMOTE_TIMEOUT_STATUSES = (124, 128 + 9, -1)
# Upper bound on one select() wait, so a closed channel is noticed even without data.
POLL_SLICE_S = 0.5
# While stdin is still being sent we poll faster, because select() only reports reads.
STDIN_POLL_SLICE_S = 0.01
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class CommandResult:
    """What one command did on one host; a non-zero `exited` is data, not an error."""

    host: str
    command: str
    exited: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.exited == 0

    def to_record(self) -> dict[str, Any]:
        """A JSON-able form for the journal, keeping the last 64 Ki characters of each stream."""
        stdout, stdout_cut = _tail(self.stdout)
        stderr, stderr_cut = _tail(self.stderr)
        return {
            "host": self.host,
            "command": self.command,
            "exited": self.exited,
            "ok": self.ok,
            "stdout": stdout,
            "stdout_truncated": stdout_cut,
            "stderr": stderr,
            "stderr_truncated": stderr_cut,
            "duration_s": round(self.duration_s, 3),
        }


def _tail(text: str) -> tuple[str, bool]:
    # The end of the output is kept because that is where errors are printed.
    if len(text) <= RECORD_OUTPUT_LIMIT:
        return text, False
    return text[-RECORD_OUTPUT_LIMIT:], True


def remote_command(
    command: str, env: dict[str, str] | None, timeout: float | None
) -> tuple[str, bytes]:
    """Return the command line to execute and the bytes to put first on its stdin."""
    remote = command
    if timeout is not None:
        # The host enforces the deadline itself: coreutils `timeout` signals the whole
        # process group (a compound command's children too), and still does so if the
        # network drops and we never get to say stop. SSH "signal" requests would be
        # simpler, but sshd refuses them for root sessions.
        seconds = f"{max(timeout, 0.001):.3f}"
        shell = '"${SHELL:-/bin/sh}"'
        remote = f"exec timeout -k {KILL_GRACE_S} {seconds} {shell} -c {shlex.quote(command)}"
    if not env:
        return remote, b""
    return _env_wrapper() + remote, _env_preamble(env)


def _env_preamble(env: dict[str, str]) -> bytes:
    """One `export` line; newlines in values are spelled through a variable so that the
    line stays a single line."""
    assignments = []
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"not a valid environment variable name: {name!r}")
        if "\0" in value:
            raise ValueError(f"environment variable {name} contains a NUL byte")
        quoted = value.replace("'", "'\\''").replace("\n", "'\"$__dr_nl\"'")
        assignments.append(f"{name}='{quoted}'")
    return f"export {' '.join(assignments)}\n".encode()


def _env_wrapper() -> str:
    """Shell code that runs before the command and exports the preamble's variables.

    `read -r` consumes exactly one line of stdin (shells read a pipe byte by byte for
    that), so the command still gets the caller's stdin intact after it. The values thus
    never appear in argv or `ps`, and sshd's AcceptEnv, which usually refuses client
    variables, is not involved.
    """
    return (
        "__dr_nl='\n'; IFS= read -r __dr_env || exit 125; "
        'eval "$__dr_env"; unset __dr_env __dr_nl\n'
    )


def remaining(deadline: float | None) -> float | None:
    """Seconds left before `deadline` (a `time.monotonic()` value), never negative."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def exchange(
    channel: paramiko.Channel, payload: bytes, deadline: float | None
) -> tuple[bytes, bytes, int | None]:
    """Feed stdin and collect stdout/stderr until the command exits; `None` exit = timed out.

    Reading and writing are interleaved in one loop: writing all of stdin first would
    deadlock on a command that prints a lot before reading its input.
    """
    stdout, stderr = bytearray(), bytearray()
    # A view, so that dropping what was sent does not copy the rest of a large stdin.
    pending = memoryview(payload)
    if not pending:
        channel.shutdown_write()
    while True:
        while channel.recv_ready():
            stdout += channel.recv(65536)
        while channel.recv_stderr_ready():
            stderr += channel.recv_stderr(65536)
        if pending and channel.send_ready():
            try:
                pending = pending[channel.send(bytes(pending[:65536])) :]
            except OSError:
                pending = memoryview(b"")  # the remote side closed; it wants no more input
            if not pending:
                channel.shutdown_write()
        finished = channel.eof_received or channel.closed
        if finished and not channel.recv_ready() and not channel.recv_stderr_ready():
            break
        left = remaining(deadline)
        if left == 0:
            return bytes(stdout), bytes(stderr), None
        wait = STDIN_POLL_SLICE_S if pending else POLL_SLICE_S
        select.select([channel], [], [], wait if left is None else min(wait, left))
    # The exit status can trail the end of output by a packet; it has the same deadline.
    if not channel.status_event.wait(remaining(deadline)):
        return bytes(stdout), bytes(stderr), None
    return bytes(stdout), bytes(stderr), channel.recv_exit_status()


def timeout_problem(
    endpoint: SshEndpoint,
    command: str,
    timeout: float | None,
    deadline: float | None,
    exited: int | None,
    stderr: bytes,
) -> TransportError | None:
    """The error to raise if the command was stopped by its deadline, else None."""
    if timeout is None or deadline is None:
        return None
    if exited == 127 and b"timeout: not found" in stderr:
        return TransportError(
            f"{endpoint.where} has no `timeout` command, which dr needs to enforce "
            f"command timeouts on the host; install coreutils there"
        )
    # A command may exit 124 on its own: only such a status at the deadline counts.
    stopped_by_deadline = time.monotonic() >= deadline and exited in _REMOTE_TIMEOUT_STATUSES
    if exited is not None and not stopped_by_deadline:
        return None
    stopped = "it may still be running" if exited is None else "it was stopped"
    return TransportError(
        f"command timed out after {timeout:g}s on {endpoint.where}: `{summary(command)}`; "
        f"{stopped}. Check what it waits for on the host, or give the step a longer timeout"
    )


def summary(command: str) -> str:
    """`command` on one line, cut to fit a message."""
    line = " ".join(command.split())
    return line if len(line) <= 120 else line[:117] + "..."
