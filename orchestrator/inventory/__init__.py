"""The inventory: what the institution has (sites, hosts, lines, switches, power, backups,
contacts, RTO/RPO targets), loaded from YAML and validated with file:line errors."""

from orchestrator.inventory.backup_sets import (
    BackupDatabase,
    BackupHooks,
    BackupSet,
    RepositoryTarget,
    RestoreExpect,
    RestoreValidation,
    Retention,
    S3Access,
    SftpAccess,
)
from orchestrator.inventory.contacts import Contact
from orchestrator.inventory.durations import Duration, format_duration, parse_duration
from orchestrator.inventory.hosts import Defaults, Host, Site, SshSettings
from orchestrator.inventory.loader import load_inventory
from orchestrator.inventory.models import Inventory
from orchestrator.inventory.network import Line, Switch
from orchestrator.inventory.pairs import (
    CommandFence,
    Database,
    FenceMethod,
    HostPair,
    ManualFence,
    SshFence,
    UpsOutletFence,
)
from orchestrator.inventory.pitr_sets import AnyBackupSet, PitrBackupSet
from orchestrator.inventory.power import Generator, Power, Ups
from orchestrator.inventory.recovery_plan import Target
from orchestrator.inventory.secrets import SecretRef, file_is_private, resolve_secret

__all__ = [
    "AnyBackupSet",
    "BackupDatabase",
    "BackupHooks",
    "BackupSet",
    "CommandFence",
    "Contact",
    "Database",
    "Defaults",
    "Duration",
    "FenceMethod",
    "Generator",
    "Host",
    "HostPair",
    "Inventory",
    "Line",
    "ManualFence",
    "PitrBackupSet",
    "Power",
    "RepositoryTarget",
    "RestoreExpect",
    "RestoreValidation",
    "Retention",
    "S3Access",
    "SecretRef",
    "SftpAccess",
    "Site",
    "SshFence",
    "SshSettings",
    "Switch",
    "Target",
    "Ups",
    "UpsOutletFence",
    "file_is_private",
    "format_duration",
    "load_inventory",
    "parse_duration",
    "resolve_secret",
]
