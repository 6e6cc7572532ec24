"""SSH transport: run commands and copy files on managed hosts.

Built on paramiko directly rather than fabric's `Connection`: fabric reads the operator's
`~/.ssh/config` (so behaviour would differ from one workstation to the next), runs every
command through invoke's runner threads, and its lazy `open()` is not safe to call from
the engine's fan-out threads. We need exactly four things (exec with stdin and a
deadline, SFTP, strict host keys, pooled connections), and paramiko gives all of them.

Contract, in the words the engine relies on:
- A command that ran and exited non-zero is a *result*, never an exception.
- Everything that stops a command from running or finishing (unreachable host, refused
  host key, failed authentication, timeout) raises `TransportError`; its message names
  the host and address:port and says what to check.
- One connection per (address, port, user, credentials) is reused by every call and
  thread; a cached connection found dead is replaced once, and only before a command was
  sent, so a command is never run twice by this layer.
- Secrets travel through `stdin` or `env`, which are both sent inside the encrypted
  channel's input and never appear on a command line (see `SshTransport.run`).

Here is the transport callers use; its parts are `ssh_connect` (the endpoint, the host-key
check, connect errors), `ssh_sessions` (shared connections handing out channels) and
`ssh_command` (the remote command line, its input and output, its result).
"""

from __future__ import annotations

import logging
import stat
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

import paramiko

from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.transports.ssh_command import (
    KILL_GRACE_S,
    RECORD_OUTPUT_LIMIT,
    CommandResult,
    exchange,
    remaining,
    remote_command,
    summary,
    timeout_problem,
)
from orchestrator.transports.ssh_connect import SshEndpoint
from orchestrator.transports.ssh_sessions import SshSessions

__all__ = ["RECORD_OUTPUT_LIMIT", "CommandResult", "SshEndpoint", "SshTransport"]

log = logging.getLogger(__name__)

SFTP_IDLE_TIMEOUT_S = 60.0


class SshTransport:
    """Runs commands and copies files over SSH, sharing one connection per host.

    Safe to use from many threads at once. Use as a context manager, or call `close()`.
    """

    def __init__(self) -> None:
        self._sessions = SshSessions()

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._sessions.close()

    def run(
        self,
        endpoint: SshEndpoint,
        command: str,
        *,
        timeout: float | None = None,
        stdin: str | bytes | None = None,
        env: dict[str, str] | None = None,
    ) -> CommandResult:
        """Run `command` through the remote user's login shell and return what it did.

        `timeout` bounds the whole call, including waiting for a free session. The host
        enforces it too, with coreutils `timeout` (which it must have): on expiry the
        command's process group gets TERM, then KILL, and `TransportError` is raised.
        `stdin` is sent to the command and then closed. `env` variables are exported to
        the command without touching its command line, so they may carry secrets; this
        needs a POSIX login shell on the host (sh, dash, bash, ksh, zsh).
        """
        payload = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._sessions.session(endpoint, deadline) as channel:
            command_line, preamble = remote_command(command, env, remaining(deadline))
            started = time.monotonic()
            # Past our own deadline, allow the host's `timeout` its TERM-then-KILL grace
            # and a round trip to report how the command ended.
            grace = None if deadline is None else deadline + KILL_GRACE_S + 1.0
            try:
                channel.exec_command(command_line)
                stdout, stderr, exited = exchange(channel, preamble + payload, grace)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(
                    f"lost the connection to {endpoint.where} while running "
                    f"`{summary(command)}` ({exc}); the command may or may not have run, "
                    f"check the host before retrying"
                ) from None
            duration = time.monotonic() - started
        problem = timeout_problem(endpoint, command, timeout, deadline, exited, stderr)
        if problem is not None:
            raise problem
        assert exited is not None  # without a deadline, exchange waits for the status
        return CommandResult(
            host=endpoint.name,
            command=command,
            exited=exited,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            duration_s=duration,
        )

    def session(
        self, endpoint: SshEndpoint, deadline: float | None
    ) -> AbstractContextManager[paramiko.Channel]:
        """A channel of its own on the host's shared connection, for a conversation that
        outlives one command (the service watch's probe loop); closed on exit."""
        return self._sessions.session(endpoint, deadline)

    def check_reachable(self, endpoint: SshEndpoint) -> bool:
        """True if a command session can be opened on the host (connect, auth, shell).

        A refused host key still raises `HostKeyRejected`: an untrusted host is not the
        same as a down one, and must not be mistaken for one by a failover decision.
        """
        try:
            self.run(endpoint, "true", timeout=endpoint.connect_timeout)
        except HostKeyRejected:
            raise
        except TransportError as exc:
            log.info("%s", exc)
            return False
        return True

    def put(
        self,
        endpoint: SshEndpoint,
        local: Path,
        remote: str,
        *,
        idle_timeout: float = SFTP_IDLE_TIMEOUT_S,
    ) -> None:
        """Upload `local` to `remote`; written to a side file and renamed into place, so a
        reader never sees half a file. `idle_timeout` bounds a stall, not the whole copy."""
        if not local.is_file():
            raise TransportError(f"cannot upload {local} to {endpoint.where}: no such local file")
        partial = f"{remote}.dr-partial"
        with self._sftp(endpoint, idle_timeout) as sftp:
            try:
                sftp.put(str(local), partial, confirm=True)
                sftp.posix_rename(partial, remote)
            except (OSError, paramiko.SSHException) as exc:
                with suppress(OSError, paramiko.SSHException):
                    sftp.remove(partial)
                raise TransportError(
                    f"upload of {local} to {remote} on {endpoint.where} failed: {_why(exc)}"
                ) from None

    def get(
        self,
        endpoint: SshEndpoint,
        remote: str,
        local: Path,
        *,
        idle_timeout: float = SFTP_IDLE_TIMEOUT_S,
    ) -> None:
        """Download `remote` to `local`, replacing `local` only once the copy is complete."""
        partial = local.with_name(local.name + ".dr-partial")
        with self._sftp(endpoint, idle_timeout) as sftp:
            try:
                sftp.get(remote, str(partial))
                partial.replace(local)
            except (OSError, paramiko.SSHException) as exc:
                partial.unlink(missing_ok=True)
                raise TransportError(
                    f"download of {remote} from {endpoint.where} to {local} failed: {_why(exc)}"
                ) from None

    def read_files(
        self,
        endpoint: SshEndpoint,
        directory: str,
        *,
        idle_timeout: float = SFTP_IDLE_TIMEOUT_S,
    ) -> dict[str, bytes]:
        """The regular files directly in `directory` (not hidden ones: a name starting
        with '.' is a file still being written), name -> content."""
        found: dict[str, bytes] = {}
        with self._sftp(endpoint, idle_timeout) as sftp:
            try:
                entries = sftp.listdir_attr(directory)
                for entry in sorted(entries, key=lambda e: e.filename):
                    if entry.filename.startswith(".") or not stat.S_ISREG(entry.st_mode or 0):
                        continue
                    with sftp.open(f"{directory.rstrip('/')}/{entry.filename}", "rb") as handle:
                        found[entry.filename] = handle.read()
            except (OSError, paramiko.SSHException) as exc:
                raise TransportError(
                    f"cannot read the files of {directory} on {endpoint.where}: {_why(exc)}"
                ) from None
        return found

    @contextmanager
    def _sftp(self, endpoint: SshEndpoint, idle_timeout: float) -> Iterator[paramiko.SFTPClient]:
        with self._sessions.session(endpoint, time.monotonic() + idle_timeout) as channel:
            channel.settimeout(idle_timeout)
            try:
                channel.invoke_subsystem("sftp")
                sftp = paramiko.SFTPClient(channel)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(
                    f"{endpoint.where} refused SFTP ({exc}); check the Subsystem sftp line "
                    f"of its sshd_config"
                ) from None
            with sftp:
                yield sftp


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
