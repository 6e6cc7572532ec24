"""Sites and hosts, and how dr reaches a host over SSH."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, IPvAnyAddress

from orchestrator.inventory.field_types import Port
from orchestrator.inventory.names import Identifier, Name
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.probes import BranchCheck
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel


class SshSettings(StrictModel):
    user: Identifier = "root"
    port: Port = 22
    key_file: InventoryPath | None = None
    known_hosts: InventoryPath | None = None
    password: SecretRef | None = None
    host_key_policy: Literal["strict", "accept-new"] = "strict"
    connect_timeout: float = Field(default=10, gt=0)


class Defaults(StrictModel):
    ssh: SshSettings = Field(default_factory=SshSettings)


class Site(StrictModel):
    name: Name
    kind: Literal["datacentre", "branch", "backup", "office"]
    # How a branch confirms it reaches the service (probes.py); none: a command over SSH
    # on the site's first host (the runbook's probe_command).
    check: BranchCheck | None = None
    description: str | None = None


class Host(StrictModel):
    name: Name
    address: IPvAnyAddress
    site: Name
    roles: list[Name] = []
    tags: list[Name] = []
    ssh: SshSettings = Field(default_factory=SshSettings)
    # Graceful power-down goes in ascending order (1 first); hosts without one go last.
    shutdown_priority: int | None = None
    description: str | None = None
