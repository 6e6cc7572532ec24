"""Switch-port operations over netmiko: what the line and switch runbooks call.

    with SwitchSessions() as switches:
        funds = switches.device(switch_endpoint(switch, inventory, mode=mode))
        funds.detach("ln-1")           # the failed line stops forwarding, stays up
        funds.attach("xc-1", "br1")    # the cross-connect joins the branch's domain
        funds.save()

Contract:
- Every change reads the port first (its link type, VLANs and state) and does nothing if
  it is already in the wanted state (`changed=False`), so a resumed runbook can repeat
  it safely; otherwise it sends the lines `netdev_plans` chooses for that kind of port,
  reads the port again and raises `SwitchOperationFailed` unless the port now forwards
  as wanted (a detached port: for no domain but the isolation VLAN, which is refused
  with `IsolationVlanInUse` if anything else carries it). The result lists every
  exchange (lines sent, device output) for the journal; `NetDevice.transcript` keeps
  them all, reads included.
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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.transports.netdev_commands import (
    DEFAULT_ISOLATION_VLAN,
    Action,
    check_domain,
    check_port,
    command_set,
    fill,
    full_port_name,
    port_key,
)
from orchestrator.transports.netdev_connect import SwitchEndpoint, open_connection
from orchestrator.transports.netdev_conversation import Conversation
from orchestrator.transports.netdev_parsers import ParseError, PortStatus, SwitchPorts, vlan_ranges
from orchestrator.transports.netdev_plans import (
    IsolationInUse,
    Refusal,
    attach_lines,
    detach_lines,
    is_attached,
    is_detached,
)
from orchestrator.transports.netdev_records import (
    DeviceConnection,
    Exchange,
    IsolationVlanInUse,
    SwitchChange,
    SwitchOperationFailed,
)

__all__ = [
    "DeviceConnection",
    "Exchange",
    "IsolationVlanInUse",
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
        save_config: bool = True,
        command_timeout: float = 30.0,
        secrets: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.commands = command_set(device_type)
        self.where = where or f"switch {name}"
        self.isolation_vlan = isolation_vlan
        self.save_config = save_config
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
        command_timeout: float = 30.0,
        session_log: Callable[[], Path | None] = lambda: None,
    ) -> NetDevice:
        return cls(
            endpoint.name,
            endpoint.device_type,
            lambda: open_connection(endpoint, session_log()),
            where=endpoint.where,
            isolation_vlan=endpoint.isolation_vlan,
            save_config=endpoint.save_config,
            command_timeout=command_timeout,
            secrets=[s for s in (endpoint.password, endpoint.enable_secret) if s],
        )

    # -- reads -----------------------------------------------------------------------

    def ports(self) -> list[PortStatus]:
        with self._lock:
            return self._read_ports([]).ports

    def port_status(self, port: str) -> PortStatus:
        with self._lock:
            return self._status(check_port(port), [])

    # -- changes ---------------------------------------------------------------------

    def detach(self, port: str) -> SwitchChange:
        """Stop `port` forwarding for any domain (see `netdev_plans` for how, per vendor)."""
        cs, isolation = self.commands, self.isolation_vlan
        return self._change(
            "detach",
            port,
            lambda status, facts: detach_lines(cs, status, isolation, facts),
            lambda status: is_detached(cs, status, isolation),
        )

    def attach(self, port: str, domain: str | int) -> SwitchChange:
        """Make `port` forward for `domain` (a bridge on linux, an access VLAN elsewhere)."""
        wanted = check_domain(self.commands, domain, self.isolation_vlan)
        cs = self.commands
        return self._change(
            "attach",
            port,
            lambda status, _facts: attach_lines(cs, status, wanted),
            lambda status: is_attached(cs, status, wanted),
        )

    def enable(self, port: str) -> SwitchChange:
        return self._simple("enable", port, lambda status: status.admin_up)

    def disable(self, port: str) -> SwitchChange:
        return self._simple("disable", port, lambda status: not status.admin_up)

    def save(self) -> SwitchChange:
        """Make the running configuration survive a reboot, when the inventory says changes
        are saved (`save: true`); nothing to do on linux, whose configuration is runtime."""
        save = self.commands.save if self.save_config else None
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

    def _simple(
        self, action: Action, port: str, done: Callable[[PortStatus], bool]
    ) -> SwitchChange:
        templates: tuple[str, ...] = getattr(self.commands, action)
        return self._change(
            action, port, lambda status, _facts: fill(templates, port=status.name), done
        )

    def _change(
        self,
        action: Action,
        port: str,
        plan: Callable[[PortStatus, SwitchPorts], list[str]],
        done: Callable[[PortStatus], bool],
    ) -> SwitchChange:
        check_port(port)
        with self._lock:
            exchanges: list[Exchange] = []
            facts = self._read_ports(exchanges)
            before = self._find(facts, port, exchanges)
            try:
                lines = [] if done(before) else plan(before, facts)
            except IsolationInUse as refused:
                raise IsolationVlanInUse(f"{self.where}: {refused}", exchanges) from None
            except Refusal as refused:
                raise SwitchOperationFailed(
                    f"{action} refused on {self.where}: {refused}", exchanges
                ) from None
            if not lines:
                return SwitchChange(
                    self.name, action, port, False, before, before, tuple(exchanges)
                )
            if self.commands.config_mode:
                self._talk.config(lines, exchanges)
            else:
                for line in lines:
                    self._talk.command(line, exchanges, silent=True)
            after = self._find(self._read_ports(exchanges), port, exchanges)
            if not done(after):
                raise SwitchOperationFailed(
                    f"{action} of port {port} on {self.where} did not take effect: sent "
                    f"{lines}, the switch accepted them, but the port now reads "
                    f"{_described(after)}; check the port's configuration on the switch",
                    exchanges,
                )
            return SwitchChange(self.name, action, port, True, before, after, tuple(exchanges))

    def _find(self, facts: SwitchPorts, port: str, exchanges: list[Exchange]) -> PortStatus:
        wanted = port_key(self.commands, port)
        for status in facts.ports:
            if port_key(self.commands, status.name) == wanted:
                return status
        names = ", ".join(status.name for status in facts.ports) or "none"
        raise SwitchOperationFailed(
            f"{self.where} has no layer-2 port {port!r} (it lists: {names}); check the port "
            f"name in the inventory or runbook",
            exchanges,
        )

    def _status(self, port: str, exchanges: list[Exchange]) -> PortStatus:
        return self._find(self._read_ports(exchanges), port, exchanges)

    def _read_ports(self, exchanges: list[Exchange]) -> SwitchPorts:
        outputs = [self._talk.command(command, exchanges) for command in self.commands.status]
        try:
            facts = self.commands.parse(outputs)
        except ParseError as exc:
            first = " | ".join(" ".join(outputs).strip().splitlines()[:3])
            raise SwitchOperationFailed(
                f"unexpected answer from {self.where} to {list(self.commands.status)}: {exc} "
                f"(it began: {first[:200]!r}); check device_type "
                f"({self.commands.device_type}) in the inventory",
                exchanges,
            ) from None
        ports = [self._as_seen_by_runbooks(status) for status in facts.ports]
        return SwitchPorts(ports, facts.vlan_interfaces)

    def _as_seen_by_runbooks(self, status: PortStatus) -> PortStatus:
        # Full port names whatever the table abbreviated, and "detached" spelt the same on
        # every vendor: a port parked in the isolation VLAN has no domain.
        domain = status.domain
        if self.commands.domain_kind == "vlan" and domain == str(self.isolation_vlan):
            domain = None
        return replace(
            status,
            name=full_port_name(self.commands, status.name),
            domain=domain,
            detached=is_detached(self.commands, status, self.isolation_vlan),
        )


def _described(status: PortStatus) -> str:
    state = "up" if status.admin_up else "shut down"
    vlans = vlan_ranges(status.vlans) or "none"
    where = status.domain if status.link_type == "bridge" else f"PVID {status.pvid}, VLANs {vlans}"
    return f"{status.link_type}, {state}, {where}"


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
        self._devices: dict[SwitchEndpoint, NetDevice] = {}

    def __enter__(self) -> SwitchSessions:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def device(self, endpoint: SwitchEndpoint) -> NetDevice:
        """The shared device for `endpoint`; it logs in on its first operation."""
        with self._lock:
            device = self._devices.get(endpoint)
            if device is None:
                device = NetDevice.for_endpoint(
                    endpoint,
                    command_timeout=self._command_timeout,
                    session_log=lambda: self._session_log_path(endpoint),
                )
                self._devices[endpoint] = device
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
