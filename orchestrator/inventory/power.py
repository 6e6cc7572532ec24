"""Power: the UPS units (read through NUT) and the generators (read over Modbus TCP)."""

from __future__ import annotations

from pydantic import Field

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import Port
from orchestrator.inventory.names import Identifier, Name
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel


class Ups(StrictModel):
    """A UPS reachable through a NUT server (upsd)."""

    name: Name
    nut_host: str = "127.0.0.1"
    nut_port: Port = 3493
    ups_name: Identifier
    username: Identifier | None = None
    password: SecretRef | None = None
    protects: list[Name] = []
    low_runtime_seconds: Duration = 300
    vendor_contact: str | None = None
    description: str | None = None


class Generator(StrictModel):
    """A backup generator's controller, read over Modbus TCP."""

    name: Name
    modbus_host: str
    modbus_port: Port = 502
    unit_id: int = Field(default=1, ge=0, le=247)
    nominal_voltage: float = Field(default=230, gt=0)
    nominal_frequency: float = Field(default=50, gt=0)
    voltage_tolerance_pct: float = Field(default=10, gt=0, lt=100)
    frequency_tolerance_hz: float = Field(default=1, gt=0)
    stable_seconds: Duration = 180
    mains_wait_seconds: Duration = 600
    description: str | None = None


class Power(StrictModel):
    ups: list[Ups] = []
    generators: list[Generator] = []
