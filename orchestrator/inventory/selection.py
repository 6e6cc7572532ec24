"""Host selectors: how an operator or a runbook names the hosts a step runs on.

    all                      every host
    dc-a                     one host by name
    role:db  tag:pg  site:xiguan
    pair:credit.primary      the primary (or .standby; `pair:credit` means both)
    role:db,site:xiguan      a union, comma-separated

The result keeps inventory order and holds each host once. A part that matches nothing is
an error rather than an empty list: a step that silently runs on no host is a step that
silently did not happen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.errors import UserInputError
from orchestrator.inventory.names import did_you_mean

if TYPE_CHECKING:
    from orchestrator.inventory.hosts import Host
    from orchestrator.inventory.models import Inventory

_FORMS = "all, NAME, role:NAME, site:NAME, tag:NAME, pair:NAME.primary or pair:NAME.standby"


def select_hosts(inventory: Inventory, selector: str) -> list[Host]:
    chosen: set[str] = set()
    for part in selector.split(","):
        chosen.update(host.name for host in _select_one(inventory, part.strip(), selector))
    return [host for host in inventory.hosts if host.name in chosen]


def _select_one(inventory: Inventory, part: str, selector: str) -> list[Host]:
    if not part:
        raise UserInputError(f"empty host selector in {selector!r}; use {_FORMS}")
    if part == "all":
        if not inventory.hosts:
            raise UserInputError("host selector 'all': the inventory has no hosts")
        return list(inventory.hosts)
    kind, sep, value = part.partition(":")
    if not sep:
        return [inventory.host(part)]
    handlers: dict[str, Callable[[Inventory, str], list[Host]]] = {
        "role": _by_role,
        "tag": _by_tag,
        "site": _by_site,
        "pair": _by_pair,
    }
    if kind not in handlers:
        raise UserInputError(f"unknown host selector {part!r}; use {_FORMS}")
    if not value:
        raise UserInputError(f"host selector {part!r} needs a name after the colon")
    return handlers[kind](inventory, value)


def _by_role(inventory: Inventory, role: str) -> list[Host]:
    hosts = [h for h in inventory.hosts if role in h.roles]
    if not hosts:
        known = dict.fromkeys(r for h in inventory.hosts for r in h.roles)
        hint = did_you_mean(role, known, "roles")
        raise UserInputError(f"host selector 'role:{role}' matches no host; {hint}")
    return hosts


def _by_tag(inventory: Inventory, tag: str) -> list[Host]:
    hosts = [h for h in inventory.hosts if tag in h.tags]
    if not hosts:
        known = dict.fromkeys(t for h in inventory.hosts for t in h.tags)
        hint = did_you_mean(tag, known, "tags")
        raise UserInputError(f"host selector 'tag:{tag}' matches no host; {hint}")
    return hosts


def _by_site(inventory: Inventory, site: str) -> list[Host]:
    inventory.site(site)  # an unknown site is reported as such, with suggestions
    hosts = [h for h in inventory.hosts if h.site == site]
    if not hosts:
        raise UserInputError(f"host selector 'site:{site}' matches no host: the site has none")
    return hosts


def _by_pair(inventory: Inventory, value: str) -> list[Host]:
    name, dot, member = value.rpartition(".")
    if not dot or member not in ("primary", "standby"):
        name, member = value, ""
    pair = inventory.pair(name)
    if member == "primary":
        return [inventory.host(pair.primary)]
    if member == "standby":
        return [inventory.host(pair.standby)]
    return [inventory.host(pair.primary), inventory.host(pair.standby)]
