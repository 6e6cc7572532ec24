"""What a switch operation returns and records, and the connection it talks through.

Kept apart from `netdev` so that the replay module and the runbooks can use these types
without the netmiko machinery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from orchestrator.errors import TransportError
from orchestrator.transports.netdev_parsers import PortStatus
from orchestrator.transports.ssh import RECORD_OUTPUT_LIMIT


class DeviceConnection(Protocol):
    """The part of a netmiko connection we use; `netdev_replay.RecordedSession` is the other
    implementation, for tests of vendors the lab cannot run."""

    def send_command(self, command_string: str, *, read_timeout: float) -> Any: ...

    def send_config_set(
        self, config_commands: list[str], *, error_pattern: str, read_timeout: float
    ) -> str: ...

    def save_config(self, cmd: str, confirm: bool, confirm_response: str) -> str: ...

    def commit(self) -> str: ...

    def is_alive(self) -> bool: ...

    def disconnect(self) -> None: ...


@dataclass(frozen=True)
class Exchange:
    """One call to the device: a shell/exec command, a configuration set, or a save."""

    kind: Literal["command", "config", "save"]
    sent: tuple[str, ...]
    output: str
    duration_s: float

    def to_record(self) -> dict[str, Any]:
        cut = len(self.output) > RECORD_OUTPUT_LIMIT
        return {
            "kind": self.kind,
            "sent": list(self.sent),
            # The end is kept: that is where devices print errors.
            "output": self.output[-RECORD_OUTPUT_LIMIT:] if cut else self.output,
            "output_truncated": cut,
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class SwitchChange:
    """What one operation did on one switch, for the journal."""

    switch: str
    action: str
    port: str | None
    changed: bool
    before: PortStatus | None
    after: PortStatus | None
    exchanges: tuple[Exchange, ...]

    @property
    def sent(self) -> list[str]:
        """Every line sent, reads included, in order."""
        return [line for exchange in self.exchanges for line in exchange.sent]

    def to_record(self) -> dict[str, Any]:
        return {
            "switch": self.switch,
            "action": self.action,
            "port": self.port,
            "changed": self.changed,
            "before": self.before.to_record() if self.before else None,
            "after": self.after.to_record() if self.after else None,
            "exchanges": [exchange.to_record() for exchange in self.exchanges],
        }


class SwitchOperationFailed(TransportError):
    """An operation failed after reaching the switch; `exchanges` shows how far it got."""

    def __init__(self, message: str, exchanges: Sequence[Exchange]) -> None:
        super().__init__(message)
        self.exchanges = tuple(exchanges)


class IsolationVlanInUse(SwitchOperationFailed):
    """The inventory's isolation VLAN is carried by a trunk, hybrid port or SVI of the
    switch, so parking a port in it would not take the port out of service; nothing was
    changed."""
