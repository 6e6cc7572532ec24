"""Real OpenSSH servers for the tests: one shared per session, more on demand.

A missing sshd makes these fixtures fail, never skip: CI must not go green while quietly
leaving the real-server tests out.

`endpoint_for_host` is a plain function, usable without pytest (scripts, `make drill`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from lab.sshd import SshServer
from orchestrator.local_machine import find_free_port
from orchestrator.transports.ssh import SshEndpoint, SshTransport

MakeSshd = Callable[..., SshServer]


def endpoint_for_host(host: Mapping[str, Any] | object, server: SshServer) -> SshEndpoint:
    """An endpoint for an inventory-like host reached through `server`.

    `host` is a mapping or an object with `name` and optionally `address`, `port` (or
    `ssh_port`) and `user`. Missing address/port default to the server's; credentials
    and known_hosts always come from the server, which generated them.
    """

    def field(*names: str) -> Any:
        for name in names:
            value = host.get(name) if isinstance(host, Mapping) else getattr(host, name, None)
            if value is not None:
                return value
        return None

    base = server.endpoint(str(field("name")))
    return SshEndpoint(
        name=base.name,
        address=str(field("address") or base.address),
        port=int(field("ssh_port", "port") or base.port),
        user=str(field("user") or base.user),
        key_file=base.key_file,
        known_hosts=base.known_hosts,
    )


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """One sshd on 127.0.0.1 for the whole session; tests must not stop it."""
    server = SshServer(tmp_path_factory.mktemp("sshd"), port=find_free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ssh_transport() -> Iterator[SshTransport]:
    with SshTransport() as transport:
        yield transport


@pytest.fixture
def make_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeSshd]:
    """Factory for extra servers (another host key, a server to kill); all stopped after.

    `make_sshd(port=..., state_dir=..., start=True, **SshServer kwargs)`; a new state dir
    means a new host key, the same state dir means the same key.
    """
    servers: list[SshServer] = []

    def make(
        *,
        port: int | None = None,
        state_dir: Path | None = None,
        start: bool = True,
        **kwargs: Any,
    ) -> SshServer:
        directory = state_dir or tmp_path_factory.mktemp("sshd-extra")
        server = SshServer(directory, port=port or find_free_port(), **kwargs)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    for server in servers:
        server.stop()
