"""Inventory items as connection endpoints, under one host-key rule for every device.

The rule: `accept-new` (trust a host key never seen before, and record it) is a
convenience for drill labs, which are rebuilt often and get new keys each time. It holds
only where the inventory asks for it *and* the connection is for a drill; everything else
checks host keys strictly, whatever the inventory says. Every endpoint built from the
inventory (hosts, switches, the Ansible export) takes its policy from `host_key_policy`,
so a new kind of device cannot forget the drill check. The transports only carry out the
policy they are handed; they know nothing of modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import StepFailed
from orchestrator.inventory import resolve_secret
from orchestrator.transports.netdev_connect import SwitchEndpoint
from orchestrator.transports.ssh_connect import SshEndpoint

if TYPE_CHECKING:
    from orchestrator.inventory import Host, Inventory, Switch
    from orchestrator.transports.known_hosts import HostKeyPolicy


def host_key_policy(requested: HostKeyPolicy, *, drill: bool) -> HostKeyPolicy:
    """The policy a connection gets: what the inventory requested if this is a drill,
    strict otherwise."""
    return "accept-new" if drill and requested == "accept-new" else "strict"


def _is_drill(inventory: Inventory, mode: str) -> bool:
    """A drill run on a drill inventory. The mode rules refuse any other drill already;
    asking for both here keeps a live inventory strict even if those rules were bypassed."""
    return mode == "drill" and inventory.environment == "drill"


def ssh_endpoint(host: Host, inventory: Inventory, *, mode: str) -> SshEndpoint:
    """How a run in `mode` reaches `host`; its password reference is resolved now."""
    settings = host.ssh
    return SshEndpoint(
        name=host.name,
        address=str(host.address),
        port=settings.port,
        user=settings.user,
        key_file=settings.key_file,
        known_hosts=settings.known_hosts or inventory.known_hosts,
        password=resolve_secret(settings.password) if settings.password else None,
        host_key_policy=host_key_policy(settings.host_key_policy, drill=_is_drill(inventory, mode)),
        connect_timeout=settings.connect_timeout,
    )


def switch_endpoint(switch: Switch, inventory: Inventory, *, mode: str) -> SwitchEndpoint:
    """How a run in `mode` reaches `switch`'s CLI. The password reference is resolved now
    (SecretUnavailable if it cannot be); known_hosts is the inventory-wide file, and the
    requested host-key policy and connect timeout are its SSH defaults."""
    defaults = inventory.defaults.ssh
    if not switch.managed or None in (switch.device_type, switch.address, switch.username):
        raise StepFailed(
            f"switch {switch.name} is not managed (managed: false): dr cannot reach it; "
            "this step needs a managed switch"
        )
    assert switch.device_type is not None and switch.username is not None  # checked above
    return SwitchEndpoint(
        name=switch.name,
        device_type=switch.device_type,
        address=str(switch.address),
        port=switch.port,
        username=switch.username,
        password=resolve_secret(switch.password) if switch.password is not None else None,
        key_file=switch.key_file,
        known_hosts=inventory.known_hosts,
        host_key_policy=host_key_policy(defaults.host_key_policy, drill=_is_drill(inventory, mode)),
        timeout=defaults.connect_timeout,
        enable_secret=(
            resolve_secret(switch.enable_secret) if switch.enable_secret is not None else None
        ),
        isolation_vlan=switch.isolation_vlan,
        save_config=switch.save,
    )


def standing_endpoint(host: Host, inventory: Inventory) -> SshEndpoint:
    """How work outside a run (scheduler jobs, the service watch, preflight, journal
    anchors) reaches `host`: no run gives a mode, so the inventory's own environment does."""
    mode = "drill" if inventory.environment == "drill" else "live"
    return ssh_endpoint(host, inventory, mode=mode)
