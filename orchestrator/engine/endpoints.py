"""Turning an inventory host into what a transport needs to reach it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.transports.ssh import SshEndpoint

if TYPE_CHECKING:
    from orchestrator.inventory import Host, Inventory


def ssh_endpoint(host: Host, inventory: Inventory, *, mode: str) -> SshEndpoint:
    from orchestrator.inventory import resolve_secret

    settings = host.ssh
    # accept-new is a convenience for drill labs that are rebuilt often; a live run
    # always checks host keys strictly, whatever the inventory says.
    policy = settings.host_key_policy if mode == "drill" else "strict"
    return SshEndpoint(
        name=host.name,
        address=str(host.address),
        port=settings.port,
        user=settings.user,
        key_file=settings.key_file,
        known_hosts=settings.known_hosts or inventory.known_hosts,
        password=resolve_secret(settings.password) if settings.password else None,
        host_key_policy=policy,
        connect_timeout=settings.connect_timeout,
    )
