"""Shared SSH connections: one per host and set of credentials, handing out channels
(sessions) to every thread, and replacing a connection found dead before use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from orchestrator.errors import TransportError
from orchestrator.transports.ssh_command import remaining
from orchestrator.transports.ssh_connect import SshEndpoint, open_client

log = logging.getLogger(__name__)

# OpenSSH's default MaxSessions is 10 channels per connection; staying below it means a
# burst of parallel commands to one host queues here instead of failing on the server.
MAX_SESSIONS_PER_CONNECTION = 8


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


class SshSessions:
    """Channels on shared connections; safe to use from many threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[_ConnectionKey, _Connection] = {}
        self._connect_locks: dict[_ConnectionKey, threading.Lock] = {}

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            connection.client.close()

    @contextmanager
    def session(self, endpoint: SshEndpoint, deadline: float | None) -> Iterator[paramiko.Channel]:
        """A fresh channel on the host's shared connection, retried once on a fresh
        connection if the cached one turns out dead before anything was sent."""
        for attempt in (1, 2):
            connection, fresh = self._connection(endpoint)
            if not connection.sessions.acquire(timeout=remaining(deadline)):
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
            connection = _Connection(open_client(endpoint))
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
