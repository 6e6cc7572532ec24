"""The network: branches' WAN lines and the switches they end on."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, IPvAnyAddress, PositiveInt, model_validator
from pydantic_core import PydanticCustomError

from orchestrator.inventory.field_types import Network, Port, PortName
from orchestrator.inventory.names import Identifier, Label, Name
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel


class Line(StrictModel):
    """A branch's WAN line into the data centre, on the funds or non-funds network."""

    name: Name
    site: Name
    kind: Literal["primary", "standby"]
    carrier: Label
    switch: Name
    port: PortName
    network: Network
    peer_address: IPvAnyAddress | None = None
    bandwidth_mbps: PositiveInt | None = None
    # The branch's forwarding domain on the switch (a bridge, or an access VLAN number),
    # and the port cabled to the other network's switch: what the seed's port-1 cable
    # swap moves between (`line-failover`).
    domain: str | None = None
    cross_connect_port: PortName | None = None
    # The label on the cable or the port as people read it in the rack ("F-01 资金网1号口"):
    # what a by-hand swap names (the switch's `ports` entry when this is left out).
    port_label: Label | None = None
    description: str | None = None


class Switch(StrictModel):
    name: Name
    site: Name
    network: Network
    # An unmanaged switch (a branch's plain switch) has no CLI dr can reach: the runbooks
    # give people checklists for it, by the port labels below, and ask them to confirm.
    managed: bool = True
    # netmiko's device type; `huawei_vrpv8` for CloudEngine (VRP8), whose changes are
    # committed; hp_comware covers Comware 5 and 7. Required on a managed switch.
    device_type: Literal["linux", "cisco_ios", "huawei", "huawei_vrpv8", "hp_comware"] | None = None
    address: IPvAnyAddress | None = None
    port: Port = 22
    username: Identifier | None = None
    password: SecretRef | None = None
    key_file: InventoryPath | None = None
    # For an account without the privilege to configure: Cisco `enable`, Huawei/H3C
    # `super` (a reference, like every secret).
    enable_secret: SecretRef | None = None
    # The VLAN that detached ports are parked in: reserved for that, carried by no trunk,
    # hybrid port or VLAN interface (dr checks, and refuses one that is).
    isolation_vlan: int = Field(default=999, ge=2, le=4094)
    # Whether dr writes its changes to the startup configuration (`save` / `write memory`)
    # so that they survive a reboot; without it they last until the switch restarts.
    save: bool = False
    # The switch that takes over when this one fails (`switch-failover`): it must list
    # every port of this one, and takes each cable in the port of the same name.
    standby: Name | None = None
    ports: dict[PortName, str] = {}
    # Each port's forwarding domain in normal service (a bridge, or an access VLAN
    # number): what the standby is configured with. A port not listed stays detached.
    port_domains: dict[PortName, str] = {}
    description: str | None = None

    @model_validator(mode="after")
    def _management_when_managed(self) -> Self:
        missing = [
            name
            for name in ("device_type", "address", "username")
            if self.managed and getattr(self, name) is None
        ]
        if missing:
            raise PydanticCustomError(
                "switch_management",
                "a managed switch needs {missing}; write `managed: false` for a switch dr "
                "cannot reach (its runbook steps become checklists for people)",
                {"missing": ", ".join(missing)},
            )
        return self
