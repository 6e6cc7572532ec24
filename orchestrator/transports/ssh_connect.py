"""Reaching one host over SSH: its endpoint, the host-key check, and what a failed
connect means for the operator. `ssh.py` explains why this is paramiko."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from paramiko.hostkeys import InvalidHostKey

from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.transports.known_hosts import (
    HostKeyPolicy,
    KnownHostsEntry,
    append_known_host,
    bracketed,
)

log = logging.getLogger(__name__)

KEEPALIVE_INTERVAL_S = 30


@dataclass(frozen=True)
class SshEndpoint(KnownHostsEntry):
    """What the transport needs to reach one host; `engine/endpoints.py` builds it from
    the inventory, host-key policy included."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None
    known_hosts: Path | None = None
    # Already resolved from its reference; kept out of repr so tracebacks cannot show it.
    password: str | None = field(default=None, repr=False)
    host_key_policy: HostKeyPolicy = "strict"
    connect_timeout: float = 10.0

    @property
    def where(self) -> str:
        """`name (address:port)`, the way every message names the host."""
        return f"{self.name} ({bracketed(self.address)}:{self.port})"


class _MissingHostKey(paramiko.MissingHostKeyPolicy):
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
        append_known_host(path, hostname, key)
        log.warning("added host key %s of %s to %s", key.fingerprint, self._endpoint.where, path)


def open_client(endpoint: SshEndpoint) -> paramiko.SSHClient:
    """A connected, authenticated client, or `TransportError` saying what to check."""
    if endpoint.key_file is not None and not endpoint.key_file.is_file():
        raise TransportError(
            f"SSH key file {endpoint.key_file} for {endpoint.where} does not exist; "
            f"check key_file in the inventory"
        )
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_MissingHostKey(endpoint))
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
