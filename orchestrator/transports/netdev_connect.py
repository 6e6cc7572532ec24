"""Open a netmiko session to a switch, refusing any host key known_hosts does not vouch for.

netmiko hands host keys to paramiko: `ssh_strict=True` installs paramiko's RejectPolicy
(an unknown key is refused instead of silently added), `system_host_keys=False` keeps
the operator's ~/.ssh/known_hosts out of it, and `alt_host_keys` + `alt_key_file` load
the inventory's known_hosts file, so a changed key fails paramiko's own comparison
(BadHostKeyException). netmiko reports both as a generic NetmikoTimeoutException, so
we look at the exception it was raised from; and because a missing known_hosts file is
silently skipped by netmiko, an unknown host is refused here before connecting at all.

Keys: we load the key file ourselves and pass it as `pkey`, with `use_keys=False` and
`allow_agent=False`, so that exactly that key (and the password, if any) is tried:
netmiko's `use_keys=True` would also make paramiko try every key in ~/.ssh.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException, ReadException

from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.transports.known_hosts import (
    HostKeyPolicy,
    KnownHostsEntry,
    append_known_host,
    bracketed,
)
from orchestrator.transports.netdev_commands import DEFAULT_ISOLATION_VLAN
from orchestrator.transports.netdev_privilege import escalate

if TYPE_CHECKING:
    from netmiko.base_connection import BaseConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SwitchEndpoint(KnownHostsEntry):
    """What is needed to reach one switch's CLI; `engine/endpoints.py` builds it from the
    inventory, host-key policy included."""

    name: str
    device_type: str
    address: str
    port: int = 22
    username: str
    # Already resolved from its reference; kept out of repr so tracebacks cannot show it.
    password: str | None = field(default=None, repr=False)
    key_file: Path | None = None
    known_hosts: Path | None = None
    host_key_policy: HostKeyPolicy = "strict"
    timeout: float = 10.0
    # The privileged-mode secret (Cisco `enable`, Huawei/H3C `super`), resolved; None when
    # the account logs in with the privilege it needs.
    enable_secret: str | None = field(default=None, repr=False)
    isolation_vlan: int = DEFAULT_ISOLATION_VLAN
    # Whether dr writes its changes to the startup configuration (`save:` in the inventory).
    save_config: bool = False

    @property
    def where(self) -> str:
        """`name (address:port)`, the way every message names the switch."""
        return f"switch {self.name} ({bracketed(self.address)}:{self.port})"


def scrub(text: str, endpoint: SwitchEndpoint) -> str:
    """`text` without the switch's secrets, for anything that leaves this module."""
    for secret in (endpoint.password, endpoint.enable_secret):
        if secret:
            text = text.replace(secret, "********")
    return text


def open_connection(endpoint: SwitchEndpoint, session_log: Path | None = None) -> BaseConnection:
    """A logged-in netmiko session at the device's CLI prompt, or TransportError /
    HostKeyRejected saying what to check. `session_log` receives the raw transcript
    (netmiko masks the password in it)."""
    known = _known_host_key(endpoint)
    if known is None and endpoint.host_key_policy == "strict":
        raise HostKeyRejected(
            f"host key of {endpoint.where} is not in {endpoint.known_hosts_path}; verify its "
            f"fingerprint on the switch console and add it, e.g. with `ssh-keyscan -p "
            f"{endpoint.port} {endpoint.address} >> {endpoint.known_hosts_path}`"
        )
    try:
        connection = ConnectHandler(
            device_type=endpoint.device_type,
            host=endpoint.address,
            port=endpoint.port,
            username=endpoint.username,
            password=endpoint.password,
            secret=endpoint.enable_secret or "",
            pkey=_load_key(endpoint),
            use_keys=False,
            allow_agent=False,
            ssh_strict=endpoint.host_key_policy == "strict",
            system_host_keys=False,
            alt_host_keys=True,
            alt_key_file=str(endpoint.known_hosts_path),
            conn_timeout=endpoint.timeout,
            auth_timeout=endpoint.timeout,
            banner_timeout=endpoint.timeout,
            session_log=str(session_log) if session_log else None,
        )
    except TransportError:
        raise
    except Exception as exc:
        raise _connect_error(endpoint, exc) from None
    if known is None:
        _remember_host_key(endpoint, connection)
    if endpoint.enable_secret is not None:
        try:
            escalate(connection, endpoint.device_type)
        except Exception as exc:
            with suppress(Exception):
                connection.disconnect()
            raise TransportError(
                f"{endpoint.where} refused privileged mode ({endpoint.device_type}): "
                f"{scrub(str(exc).strip(), endpoint) or type(exc).__name__}; check the "
                f"enable_secret reference and the account's privilege on the switch"
            ) from None
    return connection


def _known_host_key(endpoint: SwitchEndpoint) -> Any:
    path = endpoint.known_hosts_path
    if not path.exists():
        return None
    try:
        keys = paramiko.HostKeys(str(path))
    except (OSError, paramiko.SSHException) as exc:
        raise TransportError(
            f"cannot read known_hosts file {path} for {endpoint.where}: {exc}; fix or "
            f"remove the damaged line"
        ) from None
    return keys.lookup(endpoint.known_hosts_name)


def _remember_host_key(endpoint: SwitchEndpoint, connection: BaseConnection) -> None:
    """accept-new: paramiko's AutoAddPolicy only keeps the key in memory; write it."""
    client = connection.remote_conn_pre
    transport = client.get_transport() if client is not None else None
    if transport is None:
        return
    key = transport.get_remote_server_key()
    append_known_host(endpoint.known_hosts_path, endpoint.known_hosts_name, key)
    log.warning(
        "added host key %s of %s to %s", key.fingerprint, endpoint.where, endpoint.known_hosts_path
    )


def _load_key(endpoint: SwitchEndpoint) -> paramiko.PKey | None:
    if endpoint.key_file is None:
        return None
    try:
        return paramiko.PKey.from_path(endpoint.key_file)
    except FileNotFoundError:
        raise TransportError(
            f"SSH key file {endpoint.key_file} for {endpoint.where} does not exist; check "
            f"key_file in the inventory"
        ) from None
    except paramiko.PasswordRequiredException:
        raise TransportError(
            f"SSH key file {endpoint.key_file} for {endpoint.where} is passphrase-protected; "
            f"use a key without one, protected by file permissions"
        ) from None
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise TransportError(
            f"cannot load SSH key file {endpoint.key_file} for {endpoint.where}: {exc}"
        ) from None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it was raised from: netmiko re-raises paramiko's errors as its own."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connect_error(endpoint: SwitchEndpoint, exc: BaseException) -> TransportError:
    where, path = endpoint.where, endpoint.known_hosts_path
    for cause in _chain(exc):
        if isinstance(cause, paramiko.BadHostKeyException):
            return HostKeyRejected(
                f"HOST KEY CHANGED for {where}: {path} expects "
                f"{cause.expected_key.fingerprint} but the switch offered "
                f"{cause.key.fingerprint}. Someone may be intercepting the connection, or the "
                f"switch was replaced or re-keyed. Do not proceed until the new fingerprint is "
                f"confirmed on the switch console; then `ssh-keygen -R "
                f"'{endpoint.known_hosts_name}' -f {path}` and add the new key"
            )
        if isinstance(cause, paramiko.SSHException) and "not found in known_hosts" in str(cause):
            return HostKeyRejected(
                f"{where} offered a host key of a type {path} has no entry for; verify it on "
                f"the switch console and add it to {path}"
            )
    for cause in _chain(exc):
        if isinstance(cause, paramiko.AuthenticationException | NetmikoAuthenticationException):
            tried = f"key {endpoint.key_file}" if endpoint.key_file else "no key file"
            if endpoint.password is not None:
                tried += " and a password"
            return TransportError(
                f"authentication as {endpoint.username} failed on {where} (tried {tried}); "
                f"check the switch's local user or AAA server, that the public key is "
                f"configured for that user on the switch, or the password reference"
            )
        if isinstance(cause, socket.gaierror):
            return TransportError(
                f"cannot resolve {endpoint.address} for {where}; check the address in the "
                f"inventory and DNS"
            )
        if isinstance(cause, OSError):  # refused, unreachable, TCP timeout
            return TransportError(
                f"cannot reach {where}: {cause.strerror or cause or type(cause).__name__}; "
                f"check the address "
                f"and port in the inventory, that SSH is enabled on the switch, and the "
                f"management network path to it"
            )
        if isinstance(cause, ReadException | ValueError):
            return TransportError(
                f"{where} accepted the login but dr did not recognise its CLI prompt as "
                f"{endpoint.device_type} ({scrub(str(cause).strip(), endpoint)}); check "
                f"device_type in the inventory (linux needs a prompt ending in $ or #)"
            )
    return TransportError(
        f"could not open an SSH session to {where}: "
        f"{scrub(str(exc).strip(), endpoint) or type(exc).__name__}; check the switch and "
        f"the network path to it"
    )
