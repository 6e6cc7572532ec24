"""How the watch probes one target: None when the service answered, else what went wrong.

From a branch the probe is the site's own `check:` (orchestrator/inventory/probes.py):
python3 on a host there (`ssh-python`, and a site without `check:`: its first host), kept
running over one SSH session for the watch's life (remote_loop.py); the site's command
over SSH (`ssh-command`), one command per probe on a shared connection; or a TCP
connection from here to a device there (`tcp-connect`). From `orchestrator`, an HTTP GET
from this machine.

A branch that cannot be reached over SSH is down as far as the watch can tell: the
management path to a branch usually runs over the same lines as its business.
"""

from __future__ import annotations

import socket

from orchestrator.engine.endpoints import standing_endpoint
from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.inventory import Host, Inventory
from orchestrator.inventory.command_templates import fill
from orchestrator.inventory.probes import SshCommandCheck, SshPythonCheck, TcpConnectCheck
from orchestrator.inventory.service_watch_settings import ORCHESTRATOR
from orchestrator.service_watch.http_check import http_get
from orchestrator.service_watch.remote_loop import (
    ALLOWANCE_S,
    ProbeLoopCannotRun,
    RemoteProbeLoop,
)
from orchestrator.service_watch.targets import WatchTarget
from orchestrator.transports.ssh import SshTransport
from orchestrator.transports.ssh_connect import SshEndpoint


class WatchProbeRefused(Exception):
    """The probe cannot be trusted (a host key refused, the probe script cannot run):
    neither up nor down."""


class TargetProbe:
    """Probes one target again and again; keeps what it may reuse (the remote loop)."""

    def __init__(self, target: WatchTarget, inventory: Inventory, ssh: SshTransport) -> None:
        self.target = target
        self._ssh = ssh
        self._loop: RemoteProbeLoop | None = None
        self._command: str | None = None
        self._tcp: tuple[str, int] | None = None
        self._host: Host | None = None
        self._endpoint: SshEndpoint | None = None
        if target.vantage == ORCHESTRATOR:
            return
        check = inventory.site(target.vantage).check
        if isinstance(check, TcpConnectCheck):
            self._tcp = (str(check.address), check.port)
            return
        named = check.host if isinstance(check, SshPythonCheck | SshCommandCheck) else None
        self._host = _host(inventory, target.vantage, named)
        self._endpoint = standing_endpoint(self._host, inventory)
        if isinstance(check, SshCommandCheck):
            self._command = fill(check.command, url=target.url)
        else:
            self._loop = RemoteProbeLoop(ssh, self._endpoint)

    def __call__(self, timeout: float) -> str | None:
        if self.target.vantage == ORCHESTRATOR:
            return http_get(self.target.url, timeout)
        if self._tcp is not None:
            return _tcp_connect(*self._tcp, timeout)
        assert self._host is not None and self._endpoint is not None
        try:
            if self._loop is not None:
                return self._loop.get(self.target.url, timeout)
            assert self._command is not None
            result = self._ssh.run(self._endpoint, self._command, timeout=timeout + ALLOWANCE_S)
        except HostKeyRejected as err:
            raise WatchProbeRefused(err.message) from None
        except ProbeLoopCannotRun as err:
            raise WatchProbeRefused(str(err)) from None
        except TransportError as err:
            return f"{self._host.name} does not answer over SSH ({err.message})"
        if not result.ok:
            return f"{self._host.name}: exit {result.exited} {result.stderr.strip()[-200:]}".strip()
        return None

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()


def _tcp_connect(address: str, port: int, timeout: float) -> str | None:
    try:
        socket.create_connection((address, port), timeout).close()
    except OSError as err:
        return f"{address}:{port}: {err.strerror or err}"
    return None


def _host(inventory: Inventory, site: str, name: str | None) -> Host:
    if name is not None:
        return inventory.host(name)
    return next(h for h in inventory.hosts if h.site == site)  # targets.py made sure
