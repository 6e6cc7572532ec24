"""`dr lab status`: every part of the lab, asked through its own protocol where it has one."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from lab import netns, processes, topology
from lab.topology import DC_HOSTS, LabTopology
from orchestrator.errors import DrError

if TYPE_CHECKING:
    from lab.lab import Lab


def lab_status(lab: Lab) -> dict[str, Any]:
    manifest = lab.state.load()
    topo = LabTopology(branches=manifest.branches)
    present = set(netns.list_namespaces(topo.prefix))
    return {
        "up": manifest.ready and bool(present),
        "state_dir": str(lab.state.root),
        "branches": manifest.branches,
        "inventory": str(lab.state.inventory_file),
        "faults": manifest.faults,
        "namespaces": {ns: ns in present for ns in _expected_namespaces(topo)},
        "sshd": {h: _safe(partial(_sshd_answers, lab, topo, h)) for h in topo.hosts},
        "processes": {
            name: {"pid": p.pid, "running": processes.is_ours(p)}
            for name, p in manifest.processes.items()
        },
        # dc-a and dc-b, and the backup room's host (stopped until a restore starts it).
        "database": {h: _safe(partial(_database, lab, topo, h)) for h in DC_HOSTS},
        "service_vip": topology.vip_holders(topo),
        "observers": _observers(lab),
        "ups": _safe(lambda: lab.ups().status()),
        "generator": _safe(lambda: lab.genset().status()),
        "s3": _safe(lambda: lab.s3().status()),
    }


def _expected_namespaces(topo: LabTopology) -> list[str]:
    return [topo.namespace(h) for h in (*topo.hosts, "core")]


def _database(lab: Lab, topo: LabTopology, host: str) -> dict[str, Any]:
    server = lab.postgres(topo, host)
    if not server.is_running:
        return {"running": False, "cluster": server.has_cluster}
    if server.is_standby:
        lag = server.replay_lag()
        last = server.last_replay_timestamp()
        return {
            "running": True,
            "role": "standby",
            "replay_lag_s": None if lag is None else lag.total_seconds(),
            "last_replay": None if last is None else last.isoformat(),
        }
    replicas = [
        {"name": r.application_name, "state": r.state} if hasattr(r, "state") else str(r)
        for r in server.replication_status()
    ]
    return {"running": True, "role": "primary", "replicas": replicas}


def _observers(lab: Lab) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(lab.state.observe.glob("*.json")):
        try:
            found[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            found[path.stem] = {"error": str(err)}
    return found


def _safe(probe: Callable[[], Any]) -> Any:
    try:
        return probe()
    except DrError as err:
        return {"error": err.message}
    except Exception as err:  # status must report a broken part, not die of it
        return {"error": f"{err.__class__.__name__}: {err}"}


def _sshd_answers(lab: Lab, topo: LabTopology, host: str) -> bool:
    return lab.sshd(topo, host).pid is not None
