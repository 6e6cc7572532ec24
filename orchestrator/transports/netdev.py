"""Switch-port operations over netmiko: what the line and switch runbooks call.

    with SwitchSessions() as switches:
        funds = switches.device(switch_endpoint(switch, inventory, mode=mode))
        funds.detach("ln-1")           # the failed line stops forwarding, stays up
        funds.attach("xc-1", "br1")    # the cross-connect joins the branch's domain
        funds.save()

Contract:
- Every change reads the port first and does nothing if it is already in the wanted
  state (`changed=False`), so a resumed runbook can repeat it safely; otherwise it sends
  the command set's lines, reads the port again and raises `SwitchOperationFailed` if
  the change did not take. The result lists every exchange (lines sent, device output)
  for the journal; `NetDevice.transcript` keeps them all, reads included.
- One netmiko session per switch, shared by every thread; operations on one switch run
  one at a time (a CLI session is a single conversation), different switches in parallel.
- After any failure in the middle of a conversation (a rejected line, a timeout, a lost
  connection) the session is discarded: netmiko may have left it inside configuration
  mode or out of step with the prompt, and the next operation logs in afresh.
- Nothing here ever puts the switch's password in a message or a record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.transports.netdev_commands import (
    DEFAULT_ISOLATION_VLAN,
    Action,
    check_domain,
    check_port,
    command_set,
    full_port_name,
    port_key,
    render,
)
from orchestrator.transports.netdev_connect import SwitchEndpoint, open_connection
from orchestrator.transports.netdev_conversation import Conversation
from orchestrator.transports.netdev_parsers import ParseError, PortStatus
from orchestrator.transports.netdev_records import (
    DeviceConnection,
    Exchange,
    SwitchChange,
    SwitchOperationFailed,
)

__all__ = [
    "DeviceConnection",
    "Exchange",
    "NetDevice",
    "PortStatus",
    "SwitchChange",
    "SwitchEndpoint",
    "SwitchOperationFailed",
    "SwitchSessions",
]


class NetDevice:
    """The port operations on one switch, over a connection made by `connect` on demand."""

    def __init__(
        self,
        name: str,
        device_type: str,
        connect: Callable[[], DeviceConnection],
        *,
        where: str | None = None,
        isolation_vlan: int = DEFAULT_ISOLATION_VLAN,
        command_timeout: float = 30.0,
        secrets: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.commands = command_set(device_type)
        self.where = where or f"switch {name}"
        self.isolation_vlan = isolation_vlan
        self._talk = Conversation(
            connect,
            self.commands,
            where=self.where,
            command_timeout=command_timeout,
            secrets=secrets,
        )
        # A CLI session is a single conversation, and an operation is several calls
        # (read, change, read again) that must not interleave with another thread's.
        self._lock = threading.Lock()

    @property
    def transcript(self) -> list[Exchange]:
        """Every exchange with this switch so far (the last 1000), reads included."""
        return list(self._talk.transcript)

    @classmethod
    def for_endpoint(
        cls,
        endpoint: SwitchEndpoint,
        *,
        isolation_vlan: int = DEFAULT_ISOLATION_VLAN,
        command_timeout: float = 30.0,
        session_log: Callable[[], Path | None] = lambda: None,
    ) -> NetDevice:
        return cls(
            endpoint.name,
            endpoint.device_type,
            lambda: open_connection(endpoint, session_log()),
            where=endpoint.where,
            isolation_vlan=isolation_vlan,
            command_timeout=command_timeout,
            secrets=[endpoint.password] if endpoint.password else [],
        )

    # -- reads -----------------------------------------------------------------------

    def ports(self) -> list[PortStatus]:
        with self._lock:
            return self._read_ports([])

    def port_status(self, port: str) -> PortStatus:
        with self._lock:
            return self._status(check_port(port), [])

    # -- changes ---------------------------------------------------------------------

    def detach(self, port: str) -> SwitchChange:
        """Stop `port` forwarding for its domain, leaving it administratively up."""
        return self._change("detach", port, lambda status: status.domain is None)

    def attach(self, port: str, domain: str | int) -> SwitchChange:
        """Make `port` forward for `domain` (a bridge on linux, an access VLAN elsewhere)."""
        wanted = check_domain(self.commands, domain, self.isolation_vlan)
        return self._change("attach", port, lambda status: status.domain == wanted, wanted)

    def enable(self, port: str) -> SwitchChange:
        return self._change("enable", port, lambda status: status.admin_up)

    def disable(self, port: str) -> SwitchChange:
        return self._change("disable", port, lambda status: not status.admin_up)

    def save(self) -> SwitchChange:
        """Make the running configuration survive a reboot (nothing to do on linux)."""
        save = self.commands.save
        with self._lock:
            exchanges: list[Exchange] = []
            if save is not None:
                self._talk.save(exchanges)
            return SwitchChange(
                self.name, "save", None, save is not None, None, None, tuple(exchanges)
            )

    def close(self) -> None:
        with self._lock:
            self._talk.close()

    # -- internals -------------------------------------------------------------------

    def _change(
        self,
        action: Action,
        port: str,
        done: Callable[[PortStatus], bool],
        domain: str | None = None,
    ) -> SwitchChange:
        check_port(port)
        with self._lock:
            exchanges: list[Exchange] = []
            before = self._status(port, exchanges)
            if done(before):
                return SwitchChange(
                    self.name, action, port, False, before, before, tuple(exchanges)
                )
            lines = render(
                self.commands, action, port, domain=domain, isolation_vlan=self.isolation_vlan
            )
            if self.commands.config_mode:
                self._talk.config(lines, exchanges)
            else:
                for line in lines:
                    self._talk.command(line, exchanges, silent=True)
            after = self._status(port, exchanges)
            if not done(after):
                raise SwitchOperationFailed(
                    f"{action} of port {port} on {self.where} did not take effect: sent "
                    f"{lines}, the switch accepted them, but the port now reads {after}; "
                    f"check the port's mode (an access port?) and configuration on the switch",
                    exchanges,
                )
            return SwitchChange(self.name, action, port, True, before, after, tuple(exchanges))

    def _status(self, port: str, exchanges: list[Exchange]) -> PortStatus:
        wanted = port_key(self.commands, port)
        ports = self._read_ports(exchanges)
        for status in ports:
            if port_key(self.commands, status.name) == wanted:
                return status
        names = ", ".join(status.name for status in ports) or "none"
        raise SwitchOperationFailed(
            f"{self.where} has no layer-2 port {port!r} (it lists: {names}); check the port "
            f"name in the inventory or runbook",
            exchanges,
        )

    def _read_ports(self, exchanges: list[Exchange]) -> list[PortStatus]:
        outputs = [self._talk.command(command, exchanges) for command in self.commands.status]
        try:
            ports = self.commands.parse(outputs)
        except ParseError as exc:
            first = " | ".join(" ".join(outputs).strip().splitlines()[:3])
            raise SwitchOperationFailed(
                f"unexpected answer from {self.where} to {list(self.commands.status)}: {exc} "
                f"(it began: {first[:200]!r}); check device_type "
                f"({self.commands.device_type}) in the inventory",
                exchanges,
            ) from None
        return [self._as_seen_by_runbooks(status) for status in ports]

    def _as_seen_by_runbooks(self, status: PortStatus) -> PortStatus:
        # Full port names whatever the table abbreviated, and "detached" spelt the same on
        # every vendor: a port parked in the isolation VLAN has no domain.
        domain = status.domain
        if self.commands.domain_kind == "vlan" and domain == str(self.isolation_vlan):
            domain = None
        name = full_port_name(self.commands, status.name)
        return PortStatus(name, status.admin_up, status.link_up, domain)


class SwitchSessions:
    """One `NetDevice` (one netmiko session) per switch endpoint, shared by all threads.

    `session_log_dir`: if set, each session's raw transcript is written there as
    `SWITCH-YYYYmmddTHHMMSSZ.log` through netmiko's session_log (password masked).
    """

    def __init__(
        self, *, session_log_dir: Path | None = None, command_timeout: float = 30.0
    ) -> None:
        self._session_log_dir = session_log_dir
        self._command_timeout = command_timeout
        self._lock = threading.Lock()
        self._devices: dict[tuple[SwitchEndpoint, int], NetDevice] = {}

    def __enter__(self) -> SwitchSessions:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def device(
        self, endpoint: SwitchEndpoint, *, isolation_vlan: int = DEFAULT_ISOLATION_VLAN
    ) -> NetDevice:
        """The shared device for `endpoint`; it logs in on its first operation."""
        key = (endpoint, isolation_vlan)
        with self._lock:
            device = self._devices.get(key)
            if device is None:
                device = NetDevice.for_endpoint(
                    endpoint,
                    isolation_vlan=isolation_vlan,
                    command_timeout=self._command_timeout,
                    session_log=lambda: self._session_log_path(endpoint),
                )
                self._devices[key] = device
            return device

    def close(self) -> None:
        with self._lock:
            devices = list(self._devices.values())
            self._devices.clear()
        for device in devices:
            device.close()

    def _session_log_path(self, endpoint: SwitchEndpoint) -> Path | None:
        if self._session_log_dir is None:
            return None
        self._session_log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return self._session_log_dir / f"{endpoint.name}-{stamp}.log"
