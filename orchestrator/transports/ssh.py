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
"""

from __future__ import annotations

import logging
import re
import select
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import paramiko
from paramiko.hostkeys import InvalidHostKey

from orchestrator.errors import HostKeyRejected, TransportError

log = logging.getLogger(__name__)

RECORD_OUTPUT_LIMIT = 64 * 1024
# OpenSSH's default MaxSessions is 10 channels per connection; staying below it means a
# burst of parallel commands to one host queues here instead of failing on the server.
MAX_SESSIONS_PER_CONNECTION = 8
KEEPALIVE_INTERVAL_S = 30
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
SFTP_IDLE_TIMEOUT_S = 60.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_known_hosts_write_lock = threading.Lock()


@dataclass(frozen=True)
class SshEndpoint:
    """What the transport needs to reach one host; the engine builds it from the inventory."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None
    known_hosts: Path | None = None
    # Already resolved from its reference; kept out of repr so tracebacks cannot show it.
    password: str | None = field(default=None, repr=False)
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    connect_timeout: float = 10.0

    @property
    def where(self) -> str:
        """`name (address:port)`, the way every message names the host."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.name} ({address}:{self.port})"

    @property
    def known_hosts_path(self) -> Path:
        return self.known_hosts or Path.home() / ".ssh" / "known_hosts"

    @property
    def known_hosts_name(self) -> str:
        """The host's name as OpenSSH writes it in known_hosts (bracketed off port 22)."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


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


@dataclass(frozen=True)
class _ConnectionKey:
    """Connections are shared only between endpoints that would authenticate identically;
    otherwise a cached connection could hide a key or password that no longer works."""

    address: str
    port: int
    user: str
    key_file: Path | None
    known_hosts: Path
    host_key_policy: str
    password: str | None = field(repr=False)

    @classmethod
    def of(cls, endpoint: SshEndpoint) -> _ConnectionKey:
        return cls(
            endpoint.address,
            endpoint.port,
            endpoint.user,
            endpoint.key_file,
            endpoint.known_hosts_path,
            endpoint.host_key_policy,
            endpoint.password,
        )


class _Connection:
    def __init__(self, client: paramiko.SSHClient) -> None:
        self.client = client
        self.sessions = threading.BoundedSemaphore(MAX_SESSIONS_PER_CONNECTION)

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None:
            raise EOFError("connection closed")
        return transport

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for a host absent from known_hosts (a changed key raises
    `BadHostKeyException` before reaching here), so `accept-new` never overrides a change."""

    def __init__(self, endpoint: SshEndpoint) -> None:
        self._endpoint = endpoint

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        path = self._endpoint.known_hosts_path
        if self._endpoint.host_key_policy != "accept-new":
            raise HostKeyRejected(
                f"host key of {self._endpoint.where} is not in {path}; verify its fingerprint "
                f"{key.fingerprint} out of band and add it, e.g. with "
                f"`ssh-keyscan -p {self._endpoint.port} {self._endpoint.address} >> {path}`"
            )
        _append_known_host(path, hostname, key)
        log.warning("added host key %s of %s to %s", key.fingerprint, self._endpoint.where, path)


def _append_known_host(path: Path, hostname: str, key: Any) -> None:
    with _known_hosts_write_lock:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        existing = path.read_bytes() if path.exists() else b""
        separator = "\n" if existing and not existing.endswith(b"\n") else ""
        with path.open("a", encoding="utf-8") as known_hosts:
            known_hosts.write(f"{separator}{hostname} {key.get_name()} {key.get_base64()}\n")
        path.chmod(0o600)


def _changed_key_error(endpoint: SshEndpoint, exc: paramiko.BadHostKeyException) -> HostKeyRejected:
    path = endpoint.known_hosts_path
    return HostKeyRejected(
        f"HOST KEY CHANGED for {endpoint.where}: {path} expects {exc.expected_key.fingerprint} "
        f"but the host offered {exc.key.fingerprint}. Someone may be intercepting the "
        f"connection (man-in-the-middle), or the host was rebuilt. Do not proceed until the "
        f"new fingerprint is confirmed out of band; then remove the old entry with "
        f"`ssh-keygen -R '{endpoint.known_hosts_name}' -f {path}` and add the new one"
    )


def _connect_error(endpoint: SshEndpoint, exc: BaseException) -> TransportError:
    """Turn a connect-time failure into a message that says what to check."""
    where = endpoint.where
    if isinstance(exc, paramiko.BadHostKeyException):
        return _changed_key_error(endpoint, exc)
    if isinstance(exc, paramiko.PasswordRequiredException):
        return TransportError(
            f"SSH key file {endpoint.key_file} for {where} is passphrase-protected and no "
            f"passphrase was given; use a key without one, protected by file permissions"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        what = f"key {endpoint.key_file}" if endpoint.key_file else "no key file"
        if endpoint.password is not None:
            what += " and a password"
        return TransportError(
            f"authentication as {endpoint.user} failed on {where} (tried {what}); check that "
            f"the public key is in {endpoint.user}'s authorized_keys on the host, or the password"
        )
    if isinstance(exc, socket.gaierror):
        return TransportError(
            f"cannot resolve {endpoint.address} for {where}: {exc.strerror}; "
            f"check the address in the inventory and DNS"
        )
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | ConnectionRefusedError):
        return TransportError(
            f"connection to {where} refused or unroutable; check that sshd runs on the host and "
            f"listens on port {endpoint.port}, and that no firewall rejects it"
        )
    if isinstance(exc, TimeoutError):
        return TransportError(
            f"no answer from {where} within {endpoint.connect_timeout:g}s; check that the host "
            f"is up, the route to it, and firewalls dropping port {endpoint.port}"
        )
    if isinstance(exc, paramiko.SSHException | EOFError):
        return TransportError(
            f"SSH handshake with {where} failed ({exc}); check that port {endpoint.port} is "
            f"really sshd and that it is not overloaded (MaxStartups)"
        )
    if isinstance(exc, OSError):
        return TransportError(
            f"cannot reach {where}: {exc.strerror or exc}; check the network path to the host"
        )
    return TransportError(f"cannot connect to {where}: {exc}")


def _open_client(endpoint: SshEndpoint) -> paramiko.SSHClient:
    if endpoint.key_file is not None and not endpoint.key_file.is_file():
        raise TransportError(
            f"SSH key file {endpoint.key_file} for {endpoint.where} does not exist; "
            f"check key_file in the inventory"
        )
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_HostKeyPolicy(endpoint))
    path = endpoint.known_hosts_path
    try:
        if path.exists():
            # HostKeys.load matches hashed (|1|...) entries and [addr]:port names for us.
            client.get_host_keys().load(str(path))
    except (OSError, InvalidHostKey) as exc:
        raise TransportError(
            f"cannot read known hosts file {path} for {endpoint.where}: {exc}; "
            f"fix or remove the bad line"
        ) from exc
    timeout = endpoint.connect_timeout
    try:
        client.connect(
            endpoint.address,
            port=endpoint.port,
            username=endpoint.user,
            key_filename=str(endpoint.key_file) if endpoint.key_file else None,
            password=endpoint.password,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            # Only the credentials named in the inventory, never the agent or ~/.ssh/id_*:
            # a run must behave the same whoever's workstation it starts from.
            allow_agent=False,
            look_for_keys=False,
        )
    except HostKeyRejected:
        client.close()
        raise
    except (paramiko.SSHException, OSError, EOFError) as exc:
        client.close()
        # `from None`: paramiko's own exception text is folded into ours already.
        raise _connect_error(endpoint, exc) from None
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(KEEPALIVE_INTERVAL_S)
    return client


def _remote_command(
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


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _exchange(
    channel: paramiko.Channel, payload: bytes, deadline: float | None
) -> tuple[bytes, bytes, int | None]:
    """Feed stdin and collect stdout/stderr until the command exits; `None` exit = timed out.

    Reading and writing are interleaved in one loop: writing all of stdin first would
    deadlock on a command that prints a lot before reading its input.
    """
    stdout, stderr = bytearray(), bytearray()
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
                pending = pending[channel.send(pending[:65536]) :]
            except OSError:
                pending = memoryview(b"")  # the remote side closed; it wants no more input
            if not pending:
                channel.shutdown_write()
        finished = channel.eof_received or channel.closed
        if finished and not channel.recv_ready() and not channel.recv_stderr_ready():
            break
        left = _remaining(deadline)
        if left == 0:
            return bytes(stdout), bytes(stderr), None
        wait = STDIN_POLL_SLICE_S if pending else POLL_SLICE_S
        select.select([channel], [], [], wait if left is None else min(wait, left))
    # The exit status can trail the end of output by a packet; it has the same deadline.
    if not channel.status_event.wait(_remaining(deadline)):
        return bytes(stdout), bytes(stderr), None
    return bytes(stdout), bytes(stderr), channel.recv_exit_status()


def _timeout_problem(
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
        f"command timed out after {timeout:g}s on {endpoint.where}: `{_summary(command)}`; "
        f"{stopped}. Check what it waits for on the host, or give the step a longer timeout"
    )


def _summary(command: str) -> str:
    line = " ".join(command.split())
    return line if len(line) <= 120 else line[:117] + "..."


class SshTransport:
    """Runs commands and copies files over SSH, sharing one connection per host.

    Safe to use from many threads at once. Use as a context manager, or call `close()`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[_ConnectionKey, _Connection] = {}
        self._connect_locks: dict[_ConnectionKey, threading.Lock] = {}

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            connection.client.close()

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
        with self._session(endpoint, deadline) as channel:
            remote_command, preamble = _remote_command(command, env, _remaining(deadline))
            started = time.monotonic()
            # Past our own deadline, allow the host's `timeout` its TERM-then-KILL grace
            # and a round trip to report how the command ended.
            grace = None if deadline is None else deadline + KILL_GRACE_S + 1.0
            try:
                channel.exec_command(remote_command)
                stdout, stderr, exited = _exchange(channel, preamble + payload, grace)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise TransportError(
                    f"lost the connection to {endpoint.where} while running "
                    f"`{_summary(command)}` ({exc}); the command may or may not have run, "
                    f"check the host before retrying"
                ) from None
            duration = time.monotonic() - started
        problem = _timeout_problem(endpoint, command, timeout, deadline, exited, stderr)
        if problem is not None:
            raise problem
        assert exited is not None  # without a deadline, _exchange waits for the status
        return CommandResult(
            host=endpoint.name,
            command=command,
            exited=exited,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            duration_s=duration,
        )

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

    @contextmanager
    def _sftp(self, endpoint: SshEndpoint, idle_timeout: float) -> Iterator[paramiko.SFTPClient]:
        with self._session(endpoint, time.monotonic() + idle_timeout) as channel:
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

    @contextmanager
    def _session(self, endpoint: SshEndpoint, deadline: float | None) -> Iterator[paramiko.Channel]:
        """A fresh channel on the host's shared connection, retried once on a fresh
        connection if the cached one turns out dead before anything was sent."""
        for attempt in (1, 2):
            connection, fresh = self._connection(endpoint)
            if not connection.sessions.acquire(timeout=_remaining(deadline)):
                raise TransportError(
                    f"timed out waiting for a free SSH session on {endpoint.where} "
                    f"({MAX_SESSIONS_PER_CONNECTION} already in use)"
                )
            try:
                channel = connection.transport.open_session(timeout=endpoint.connect_timeout)
            except paramiko.ChannelException as exc:
                connection.sessions.release()
                raise TransportError(
                    f"{endpoint.where} refused a new SSH session ({exc.text}); check MaxSessions "
                    f"in its sshd_config"
                ) from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                connection.sessions.release()
                self._discard(endpoint, connection)
                if fresh or attempt == 2:
                    raise TransportError(
                        f"the SSH connection to {endpoint.where} dropped while opening a "
                        f"session ({exc}); check the host and the network path to it"
                    ) from None
                log.info("cached connection to %s is dead; reconnecting", endpoint.where)
                continue
            try:
                yield channel
            finally:
                channel.close()
                connection.sessions.release()
            return

    def _connection(self, endpoint: SshEndpoint) -> tuple[_Connection, bool]:
        """The live shared connection for this endpoint, and whether it was just made."""
        key = _ConnectionKey.of(endpoint)
        with self._lock:
            # One lock per key: threads for other hosts connect in parallel, while threads
            # for this host wait for a single connection instead of opening one each.
            connect_lock = self._connect_locks.setdefault(key, threading.Lock())
        with connect_lock:
            with self._lock:
                cached = self._connections.get(key)
            if cached is not None and cached.alive:
                return cached, False
            if cached is not None:
                self._discard(endpoint, cached)
            connection = _Connection(_open_client(endpoint))
            log.debug("connected to %s as %s", endpoint.where, endpoint.user)
            with self._lock:
                self._connections[key] = connection
            return connection, True

    def _discard(self, endpoint: SshEndpoint, connection: _Connection) -> None:
        key = _ConnectionKey.of(endpoint)
        with self._lock:
            if self._connections.get(key) is connection:
                del self._connections[key]
        connection.client.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
