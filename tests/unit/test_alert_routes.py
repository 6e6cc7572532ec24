"""The shipped example's alert routes load, match the alerts they are written for, and
name runbooks and parameters that exist; a route that does not fit is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.alerts.payloads import BadPayload, alertmanager_alerts, zabbix_alert
from orchestrator.alerts.route_check import check_routes
from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.errors import UserInputError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.alert_routes import AlertRoute

EXAMPLE = Path(__file__).parent.parent.parent / "inventory" / "example-production.yaml"


def test_example_routes_resolve() -> None:
    inv = load_inventory(EXAMPLE)
    check_routes(inv, RunbookRegistry.discover())
    assert (
        inv.alerts.auth is not None and str(inv.alerts.auth.bearer_token) == "env:DR_ALERTS_TOKEN"
    )
    db = inv.alerts.route_for({"alertname": "CreditDbDown", "instance": "credit-a:9187"})
    assert db is not None
    assert (db.runbook, db.level, db.category) == ("dual-host-cutover", "orange", "equipment")
    line = inv.alerts.route_for({"alertname": "BranchLineDown", "branch": "xiguan"})
    assert line is not None
    assert (line.runbook, line.level, line.params["branch"]) == (
        "line-failover",
        "yellow",
        "xiguan",
    )
    zabbix = zabbix_alert(
        {"event_id": "9", "status": "PROBLEM", "host": "hq-ups", "trigger": "Mains power failure",
         "severity": "Disaster", "time": "2026-12-04T08:00:00+08:00"}
    )  # fmt: skip
    power = inv.alerts.route_for(zabbix.labels)
    assert power is not None and power.runbook == "power-outage"
    assert inv.alerts.route_for({"alertname": "DiskAlmostFull"}) is None


def test_routes_that_do_not_fit_are_refused() -> None:
    inv = load_inventory(EXAMPLE)
    registry = RunbookRegistry.discover()
    inv.alerts.routes = [
        AlertRoute(match={"a": "b"}, category="system", level="blue", runbook="no-such-runbook"),
        AlertRoute(match={"a": "c"}, category="system", level="blue",
                   runbook="line-failover", params={"brnach": "x"}),
        AlertRoute(match={"a": "d"}, category="system", level="blue",
                   runbook="line-failover", auto_drill=True),
    ]  # fmt: skip
    with pytest.raises(UserInputError) as caught:
        check_routes(inv, registry)
    message = str(caught.value)
    assert "no runbook named 'no-such-runbook'" in message
    assert "no parameter brnach" in message
    assert "auto_drill is for drill inventories only" in message


def test_alertmanager_payload_errors_say_which_field() -> None:
    with pytest.raises(BadPayload, match="version"):
        alertmanager_alerts({"version": "3", "alerts": []})
    with pytest.raises(BadPayload, match=r"alerts\[0\].startsAt"):
        alertmanager_alerts(
            {"version": "4", "alerts": [{"status": "firing", "labels": {}, "fingerprint": "f",
                                         "startsAt": "yesterday"}]}
        )  # fmt: skip
    [alert] = alertmanager_alerts(
        {"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "X"},
                                     "fingerprint": "f", "startsAt": "2026-12-04T01:02:03.5Z",
                                     "endsAt": "0001-01-01T00:00:00Z"}]}
    )  # fmt: skip
    assert (
        alert.ended_at is None
        and alert.started_at.isoformat() == "2026-12-04T01:02:03.500000+00:00"
    )


def test_zabbix_times_need_a_zone() -> None:
    base = {"event_id": "7", "status": "PROBLEM", "host": "h", "trigger": "t"}
    alert = zabbix_alert(
        {**base, "time": "2026.12.04 12:00:00+08:00",
         "recovery_time": "{EVENT.RECOVERY.DATE} {EVENT.RECOVERY.TIME}+08:00"}
    )  # fmt: skip
    assert alert.ended_at is None
    assert alert.started_at.isoformat() == "2026-12-04T04:00:00+00:00"
    assert zabbix_alert({**base, "time": "1764820800"}).started_at.year == 2025
    with pytest.raises(BadPayload, match="no time zone"):
        zabbix_alert({**base, "time": "2026.12.04 12:00:00"})
