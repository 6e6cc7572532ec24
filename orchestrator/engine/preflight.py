"""The readiness check a duty operator runs once a week: can this runbook reach every
device it needs, right now? (Veeam's plan readiness check is the model.)

The devices are those the plan names (its steps' hosts and plan hooks) and those its
parameters name (a pair's hosts and database, a UPS, a generator, a switch, a branch's
switches). Each is reached read-only, with a short timeout, all at once:
- a host: SSH, `uname -sr` (connect, host key, authentication, a shell);
- a database: `SELECT 1` in a read-only session;
- a UPS: NUT `GET VAR ups.status`; a generator: its Modbus status registers;
- a switch: a TCP connection to its management port only. A vendor CLI session is
  not opened: a switch keeps few of them, and an operator may be using one.
Nothing is changed anywhere; a secret that cannot be resolved is reported as such.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from orchestrator.engine.endpoints import standing_endpoint
from orchestrator.errors import DrError
from orchestrator.inventory import resolve_secret
from orchestrator.postgresql.errors import PostgresError
from orchestrator.postgresql.read_only import Server, first_row
from orchestrator.transports.genset import GensetClient
from orchestrator.transports.ssh import SshTransport
from orchestrator.transports.ssh_connect import SshEndpoint
from orchestrator.transports.ups import NutClient

if TYPE_CHECKING:
    from orchestrator.engine.plan import Plan
    from orchestrator.inventory import HostPair, Inventory

TIMEOUT_S = 5.0
_WORKERS = 16


@dataclass(frozen=True)
class Readiness:
    """One device's answer."""

    kind: str  # host, database, switch, ups, generator
    name: str
    address: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Device:
    kind: str
    name: str
    address: str


def check_readiness(plan: Plan, inventory: Inventory) -> list[Readiness]:
    """Reach each device `plan` needs, read-only, in parallel; one answer per device."""
    devices = needed_devices(plan, inventory)
    with SshTransport() as ssh, ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        return list(pool.map(lambda d: _ask(d, ssh, inventory), devices))


def needed_devices(plan: Plan, inventory: Inventory) -> list[_Device]:
    """Every device once, in the order the plan first names it."""
    named: dict[tuple[str, str], None] = {}
    for row in plan.rows:
        for host in row.hosts:
            named[("host", host)] = None
        for touch in row.touches:
            kind = {"ssh": "host"}.get(touch.via, touch.via)
            if kind in ("host", "switch", "ups", "generator"):
                named[(kind, touch.device)] = None
    runs = [(plan.runbook.params, plan.params)]
    runs += [(planned.runbook.params, planned.params) for planned in plan.steps]
    for declared, values in runs:
        for key in _named_by_params(declared, values, inventory):
            named[key] = None
    return [_device(kind, name, inventory) for kind, name in named]


def _named_by_params(
    declared: dict[str, Any], values: dict[str, Any], inventory: Inventory
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name, param in declared.items():
        kind, value = param.refers_to, str(values.get(name, param.default))
        if kind == "pair":
            pair = _pair(inventory, value)
            if pair is not None:
                found += [("host", pair.primary), ("host", pair.standby)]
                found += [("database", pair.name)] if pair.database is not None else []
        elif kind in ("ups", "generator", "switch", "host"):
            names: dict[str, list[str]] = {
                "ups": [u.name for u in inventory.power.ups],
                "generator": [g.name for g in inventory.power.generators],
                "switch": [s.name for s in inventory.switches],
                "host": [h.name for h in inventory.hosts],
            }
            chosen = value or next(iter(names[kind]), "")
            found += [(kind, chosen)] if chosen else []
        elif kind == "hosts":
            found += [("host", h.name) for h in inventory.select_hosts(value)]
        elif kind == "branch":
            lines = [x for x in inventory.lines if x.site == value]
            found += [("switch", x.switch) for x in lines]
            found += [("host", h.name) for h in inventory.hosts if h.site == value][:1]
    return found


def _pair(inventory: Inventory, name: str) -> HostPair | None:
    for pair in inventory.host_pairs:
        if pair.name == name or not name:
            return pair
    return None


def _device(kind: str, name: str, inventory: Inventory) -> _Device:
    if kind == "host":
        host = inventory.host(name)
        return _Device(kind, name, f"{host.ssh.user}@{host.address}:{host.ssh.port}")
    if kind == "database":
        pair = inventory.pair(name)
        db = pair.database
        assert db is not None
        primary = inventory.host(pair.primary)
        return _Device(kind, name, f"{db.user}@{primary.address}:{db.port}/{db.name}")
    if kind == "switch":
        switch = inventory.switch(name)
        return _Device(kind, name, f"{switch.address}:{switch.port}")
    if kind == "ups":
        ups = inventory.ups(name)
        return _Device(kind, name, f"upsd {ups.nut_host}:{ups.nut_port}")
    gen = inventory.generator(name)
    return _Device(kind, name, f"Modbus {gen.modbus_host}:{gen.modbus_port}")


def _ask(device: _Device, ssh: SshTransport, inventory: Inventory) -> Readiness:
    try:
        detail = _checks[device.kind](device.name, ssh, inventory)
        ok = True
    except DrError as err:
        ok, detail = False, err.message
    except OSError as err:
        ok, detail = False, f"{err.strerror or err}"
    return Readiness(device.kind, device.name, device.address, ok, detail)


def _host(name: str, ssh: SshTransport, inventory: Inventory) -> str:
    endpoint = _short(standing_endpoint(inventory.host(name), inventory))
    result = ssh.run(endpoint, "uname -sr", timeout=TIMEOUT_S)
    if not result.ok:
        return f"SSH works, but `uname -sr` exited {result.exited}"
    return f"SSH and a shell work ({result.stdout.strip()})"


def _short(endpoint: SshEndpoint) -> SshEndpoint:
    return replace(endpoint, connect_timeout=min(endpoint.connect_timeout, TIMEOUT_S))


def _database(name: str, _ssh: SshTransport, inventory: Inventory) -> str:
    pair = inventory.pair(name)
    db = pair.database
    assert db is not None
    server = Server(
        host=str(inventory.host(pair.primary).address),
        port=db.port,
        dbname=db.name,
        user=db.user,
        password=resolve_secret(db.password) if db.password is not None else None,
        sslmode=db.sslmode,
        sslrootcert=str(db.sslrootcert) if db.sslrootcert is not None else None,
    )
    try:
        first_row(server, "SELECT 1", timeout_s=int(TIMEOUT_S))
    except PostgresError as err:
        raise DrError(err.message) from None
    return f"SELECT 1 answered on {pair.primary}'s database {db.name}"


def _switch(name: str, _ssh: SshTransport, inventory: Inventory) -> str:
    switch = inventory.switch(name)
    if not switch.managed or switch.address is None:
        return "not managed by dr: its steps are a person's"
    socket.create_connection((str(switch.address), switch.port), TIMEOUT_S).close()
    return f"management port {switch.port} accepts a connection (no CLI session opened)"


def _ups(name: str, _ssh: SshTransport, inventory: Inventory) -> str:
    ups = inventory.ups(name)
    client = NutClient(ups.nut_host, ups.nut_port, ups.ups_name, timeout=TIMEOUT_S)
    return f"NUT answers: ups.status {client.get('ups.status')}"


def _generator(name: str, _ssh: SshTransport, inventory: Inventory) -> str:
    gen = inventory.generator(name)
    with GensetClient(gen.modbus_host, gen.modbus_port, gen.unit_id, timeout=TIMEOUT_S) as client:
        status = client.status()
    return f"Modbus answers: {'running' if status.running else 'stopped'}"


_checks: dict[str, Callable[[str, SshTransport, Inventory], str]] = {
    "host": _host,
    "database": _database,
    "switch": _switch,
    "ups": _ups,
    "generator": _generator,
}
