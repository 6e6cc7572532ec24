"""What the service watch probes: each host pair's service from each vantage point."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.inventory import Inventory
from orchestrator.inventory.probes import (
    PersonCheck,
    SshCommandCheck,
    SshPythonCheck,
    SwitchViewCheck,
    TcpConnectCheck,
)
from orchestrator.inventory.service_watch_settings import ORCHESTRATOR, ServiceWatchSettings


@dataclass(frozen=True)
class WatchTarget:
    """One service (a host pair's name) from one vantage (a branch site or this machine)."""

    service: str
    vantage: str
    url: str

    @property
    def label(self) -> str:
        return f"{self.service} from {self.vantage}"


@dataclass(frozen=True)
class Unwatched:
    vantage: str
    why: str


def watch_targets(
    inventory: Inventory, settings: ServiceWatchSettings
) -> tuple[list[WatchTarget], list[Unwatched]]:
    """The targets, and the vantages that cannot be watched (and why)."""
    pairs = [p for p in inventory.host_pairs if p.service_url is not None]
    vantages = settings.vantages or [s.name for s in inventory.sites if s.kind == "branch"]
    targets, unwatched = [], []
    for vantage in vantages:
        why = None if vantage == ORCHESTRATOR else _why_not(inventory, vantage)
        if why is not None:
            unwatched.append(Unwatched(vantage, why))
            continue
        targets += [WatchTarget(p.name, vantage, str(p.service_url)) for p in pairs]
    return targets, unwatched


def _why_not(inventory: Inventory, site: str) -> str | None:
    check = inventory.site(site).check
    if isinstance(check, PersonCheck):
        return "checked by a person (check: person): nothing to probe from here"
    if isinstance(check, SwitchViewCheck):
        return "checked by the switch's view: carrier is not service, so it is not watched"
    if isinstance(check, SshPythonCheck | SshCommandCheck) and check.host is not None:
        return None
    if isinstance(check, TcpConnectCheck):
        return None
    if not [h for h in inventory.hosts if h.site == site]:
        return "no host at the site to probe from; give it `check:` (ssh-python, tcp-connect)"
    return None
