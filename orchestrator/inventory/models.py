"""The inventory's shape: the whole file, assembled from its sections.

Each section has its own module (hosts, pairs, network, power, backup_sets, contacts,
recovery_plan, scheduler_settings, notifications); every model forbids unknown keys
(`strict`). Which names refer to which (a host's site, a pair's hosts, ...) is checked
by `references`, because those checks need the whole file and report with line numbers.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, PrivateAttr, model_validator

from orchestrator.errors import UserInputError
from orchestrator.inventory.alert_routes import AlertSettings
from orchestrator.inventory.backup_sets import BackupSet
from orchestrator.inventory.contacts import Contact
from orchestrator.inventory.credit_reporting import CreditReporting
from orchestrator.inventory.field_types import AlertLevel, TimeZone
from orchestrator.inventory.hosts import Defaults, Host, Site, SshSettings
from orchestrator.inventory.journal_settings import JournalSettings
from orchestrator.inventory.names import Label, did_you_mean
from orchestrator.inventory.network import Line, Switch
from orchestrator.inventory.notifications import Notifications
from orchestrator.inventory.pairs import HostPair
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.people_settings import ConsoleSettings, DrillSettings
from orchestrator.inventory.pitr_sets import AnyBackupSet, PitrBackupSet
from orchestrator.inventory.power import Generator, Power, Ups
from orchestrator.inventory.recovery_plan import PlannedDrill, Target
from orchestrator.inventory.scheduler_settings import SchedulerSettings
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.selection import select_hosts
from orchestrator.inventory.strict import StrictModel
from orchestrator.inventory.systems import System, recovery_order

_Named = TypeVar(
    "_Named",
    Site,
    Host,
    HostPair,
    Switch,
    Ups,
    Generator,
    Contact,
    BackupSet,
    AnyBackupSet,
    System,
)


class Inventory(StrictModel):
    """One institution's (or one lab's) whole inventory. Build it with `load_inventory`."""

    name: Label
    environment: Literal["production", "drill"]
    timezone: TimeZone = "Asia/Shanghai"
    description: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    sites: list[Site] = []
    hosts: list[Host] = []
    host_pairs: list[HostPair] = []
    lines: list[Line] = []
    switches: list[Switch] = []
    power: Power = Field(default_factory=Power)
    backup_sets: list[AnyBackupSet] = []
    contacts: list[Contact] = []
    escalation: dict[AlertLevel, list[str]] = {}
    notifications: Notifications = Field(default_factory=Notifications)
    targets: list[Target] = []
    drills: list[PlannedDrill] = []
    known_hosts: InventoryPath | None = None
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    # What comes back in which order after a site is lost (systems.py).
    systems: list[System] = []
    # The journal's key and the places its head is anchored (journal_settings.py).
    journal: JournalSettings = Field(default_factory=JournalSettings)
    # The console's address (approval links) and the drill roster (people_settings.py).
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    drill: DrillSettings = Field(default_factory=DrillSettings)
    # Monitoring alerts that open incidents, and the runbook each names (alert_routes.py).
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    # The credit system's report messages and the two roles of art. 28 (credit_reporting.py).
    credit_reporting: CreditReporting | None = None
    # The institution's own working-day calendar (workdays_file.py, orchestrator.calendar),
    # relative to this file; none: the one shipped with dr (data/cn-workdays.yaml).
    calendar: InventoryPath | None = None

    _source_path: Path | None = PrivateAttr(default=None)
    _digest: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _inherit_ssh_defaults(self) -> Inventory:
        # A host's ssh block overrides only the keys it writes; the rest come from
        # defaults.ssh, and known_hosts finally from the inventory-wide file.
        defaults = self.defaults.ssh
        inherited = {k: getattr(defaults, k) for k in defaults.model_fields_set}
        for host in self.hosts:
            own = {k: getattr(host.ssh, k) for k in host.ssh.model_fields_set}
            settings = {**inherited, **own}
            if settings.get("known_hosts") is None and self.known_hosts is not None:
                settings["known_hosts"] = self.known_hosts
            host.ssh = SshSettings.model_construct(set(settings), **settings)
        return self

    # -- provenance (not part of the YAML) ---------------------------------------------

    def attach_source(self, path: Path, content: bytes) -> None:
        """Record which file this inventory came from, and its SHA-256 (for the journal)."""
        self._source_path = path
        self._digest = hashlib.sha256(content).hexdigest()

    @property
    def source_path(self) -> Path | None:
        """The file it was loaded from; None for an inventory built in code."""
        return self._source_path

    @property
    def digest(self) -> str:
        """SHA-256 of the file's bytes (or, built in code, of its canonical JSON)."""
        if self._digest is None:
            return hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._digest

    # -- lookups used by the engine and runbooks ---------------------------------------

    def host(self, name: str) -> Host:
        return _find(self.hosts, name, "host", "hosts")

    def site(self, name: str) -> Site:
        return _find(self.sites, name, "site", "sites")

    def pair(self, name: str) -> HostPair:
        return _find(self.host_pairs, name, "host pair", "host pairs")

    def switch(self, name: str) -> Switch:
        return _find(self.switches, name, "switch", "switches")

    def ups(self, name: str) -> Ups:
        return _find(self.power.ups, name, "UPS", "UPS units")

    def generator(self, name: str) -> Generator:
        return _find(self.power.generators, name, "generator", "generators")

    def backup_set(self, name: str) -> BackupSet:
        """A restic set: the kind most backup commands take (see `any_backup_set`)."""
        found = self.any_backup_set(name)
        if not isinstance(found, BackupSet):
            raise UserInputError(
                f"backup set {name!r} is of kind {found.kind} (pgBackRest), and this command "
                "works on restic sets only; `dr backup init|run|list|check` take both kinds"
            )
        return found

    def any_backup_set(self, name: str) -> AnyBackupSet:
        return _find(self.backup_sets, name, "backup set", "backup sets")

    @property
    def restic_sets(self) -> list[BackupSet]:
        return [s for s in self.backup_sets if isinstance(s, BackupSet)]

    @property
    def pitr_sets(self) -> list[PitrBackupSet]:
        return [s for s in self.backup_sets if isinstance(s, PitrBackupSet)]

    def system(self, name: str) -> System:
        return _find(self.systems, name, "system", "systems")

    def systems_in_recovery_order(self) -> list[System]:
        return recovery_order(self.systems)

    def contact(self, name: str) -> Contact:
        return _find(self.contacts, name, "contact", "contacts")

    def target_for(self, system: str) -> Target | None:
        """The RTO/RPO target for `system`, or None: not every system has one."""
        return next((t for t in self.targets if t.system == system), None)

    def secret_refs(self) -> list[tuple[str, SecretRef]]:
        """Every secret reference with where it is written, e.g. ("hosts[0].ssh.password", ref),
        so that a pre-flight check can see whether each one can be resolved here."""
        return _secret_refs(self, "")

    def select_hosts(self, selector: str) -> list[Host]:
        """Hosts matching e.g. "all", "dc-a", "role:db,site:xiguan", "pair:credit.standby"."""
        return select_hosts(self, selector)


def _find(items: list[_Named], name: str, kind: str, plural: str) -> _Named:
    for item in items:
        if item.name == name:
            return item
    hint = did_you_mean(name, (i.name for i in items), plural)
    raise UserInputError(f"no {kind} named {name!r} in the inventory; {hint}")


def _secret_refs(value: Any, where: str) -> list[tuple[str, SecretRef]]:
    if isinstance(value, SecretRef):
        return [(where, value)]
    if isinstance(value, BaseModel):
        prefix = f"{where}." if where else ""
        fields = type(value).model_fields
        return [r for name in fields for r in _secret_refs(getattr(value, name), prefix + name)]
    if isinstance(value, list):
        return [r for i, item in enumerate(value) for r in _secret_refs(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [r for k, item in value.items() for r in _secret_refs(item, f"{where}.{k}")]
    return []
