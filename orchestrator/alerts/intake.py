"""One alert → its incident: opened at the alert's own start (item 7 starts RTO clocks
there), updated when the same alert fires again, noted when it resolves.

Which incident an alert belongs to is journaled as an `incident.alert` event carrying the
alert's key (Alertmanager's fingerprint, Zabbix's event id), so it is in the incident's
hash-chained timeline and survives restarts. The runbook is named, with the exact command
line, in the summary the roster is mailed; it is never run in production from here.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from orchestrator.alerts.payloads import Alert
from orchestrator.incidents import IncidentStore, handling
from orchestrator.incidents.handling import IncidentUpdate
from orchestrator.incidents.records import iso
from orchestrator.incidents.tick import tick
from orchestrator.inventory.alert_routes import AlertRoute
from orchestrator.inventory.models import Inventory
from orchestrator.journal import Journal
from orchestrator.journal import schema as tables
from orchestrator.journal.database import make_engine


@dataclass(frozen=True)
class Outcome:
    alert_key: str
    action: str  # opened | updated | resolved | ignored
    incident_id: str | None
    runbook: str | None = None
    command: str | None = None
    drill_pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def take_alert(
    journal: Journal, inventory: Inventory, alert: Alert, db_option: str | None = None
) -> Outcome:
    """Open, update or note the resolution on the alert's incident; notify through the
    incident's own tick (the one notification path)."""
    actor = f"alerts:{alert.source}"
    current = open_incident_for(journal, alert.key)
    if alert.status == "resolved":
        if current is None:
            return Outcome(alert.key, "ignored", None)
        ended = iso(alert.ended_at or datetime.now(UTC))
        note = f"alert resolved at {ended} ({alert.summary}) / 告警已恢复"
        handling.update_incident(journal, current, IncidentUpdate(note=note), actor=actor)
        _record(journal, current, alert, actor, {"resolved_at": ended})
        return Outcome(alert.key, "resolved", current)
    if current is not None:
        _record(journal, current, alert, actor, {"repeat": True})
        return Outcome(alert.key, "updated", current)
    return _open(journal, inventory, alert, actor, db_option)


def open_incident_for(journal: Journal, alert_key: str) -> str | None:
    """The open incident this alert opened earlier, if any."""
    cols = tables.events.c
    needle = f'"alert_key":{json.dumps(alert_key)}'  # canonical_json's spelling
    query = (
        select(cols.data)
        .where(cols.kind == "incident.alert", cols.data.contains(needle, autoescape=True))
        .order_by(cols.seq.desc())
    )
    engine = make_engine(journal.url)
    try:
        with engine.connect() as conn:
            rows = [row.data for row in conn.execute(query)]
    finally:
        engine.dispose()
    store = IncidentStore(journal)
    try:
        for data in rows:
            doc = data if isinstance(data, dict) else json.loads(data)
            if store.get(doc["incident_id"]).is_open:
                return str(doc["incident_id"])
    finally:
        store.dispose()
    return None


def _open(
    journal: Journal, inventory: Inventory, alert: Alert, actor: str, db_option: str | None
) -> Outcome:
    settings = inventory.alerts
    route = settings.route_for(alert.labels)
    now = datetime.now(UTC)
    # A sender's clock a little ahead of ours must not make the start "in the future".
    began = min(alert.started_at, now)
    store = IncidentStore(journal)
    try:
        if route is None:
            category, level = settings.unmatched_category, settings.unmatched_level
            head = f"[alert / 告警] {alert.summary} — no alert route matched / 无匹配的告警路由"
        else:
            category, level = route.category, route.level
            head = f"[alert / 告警] {alert.summary}"
        source = inventory.source_path
        incident = store.open(
            inventory_name=inventory.name,
            inventory_path=str(source.absolute()) if source is not None else None,
            category=category,
            level=level,
            summary=head,
            actor=actor,
            started_at=began,
            at=now,
        )
        command = None
        if route is not None and route.runbook:
            command = run_command(inventory, route, incident.id)
            # The id is only known once opened; the roster's first notice (sent by the
            # tick below) already carries the command with it.
            store.update(
                incident.id,
                actor=actor,
                summary=f"{head}\nrunbook / 预案: {route.runbook}\n{command}",
                at=now,
            )
    finally:
        store.dispose()
    extra: dict[str, Any] = {"runbook": route.runbook if route else None, "command": command}
    _record(journal, incident.id, alert, actor, extra)
    tick(journal, inventory, now, incident_id=incident.id)
    pid = None
    if route is not None and route.runbook and route.auto_drill:
        pid = _start_drill(inventory, route, incident.id, db_option)
    return Outcome(alert.key, "opened", incident.id, route.runbook if route else None, command, pid)


def run_command(inventory: Inventory, route: AlertRoute, incident_id: str) -> str:
    """The exact line a person runs: `dr run` in production, `dr drill` on a drill one."""
    return shlex.join(_argv(inventory, route, incident_id))


def _argv(inventory: Inventory, route: AlertRoute, incident_id: str) -> list[str]:
    assert route.runbook is not None
    mode = "drill" if inventory.environment == "drill" else "run"
    source = inventory.source_path
    argv = ["dr", mode, route.runbook, "-i", str(source.absolute()) if source else "INVENTORY"]
    for name, value in route.params.items():
        argv += ["-p", f"{name}={str(value).lower() if isinstance(value, bool) else value}"]
    return [*argv, "--incident", incident_id]


def _start_drill(
    inventory: Inventory, route: AlertRoute, incident_id: str, db_option: str | None
) -> int | None:
    """Drill inventories only (checked again here, not only by the route): the drill runs
    as its own process, so the webhook answers at once and a crash stays in the drill."""
    if inventory.environment != "drill" or inventory.source_path is None:
        return None
    argv = [*_argv(inventory, route, incident_id)[1:], "--auto-confirm"]
    if db_option:
        argv += ["--db", db_option]
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli.main", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Reaped when it ends, so a long-running receiver collects no zombies.
    threading.Thread(target=process.wait, daemon=True).start()
    return process.pid


def _record(
    journal: Journal, incident_id: str, alert: Alert, actor: str, extra: dict[str, Any]
) -> None:
    journal.append(
        "incident.alert",
        actor=actor,
        data={
            "incident_id": incident_id,
            "alert_key": alert.key,
            "source": alert.source,
            "status": alert.status,
            "labels": alert.labels,
            "started_at": iso(alert.started_at),
            **{k: v for k, v in extra.items() if v is not None},
        },
    )
