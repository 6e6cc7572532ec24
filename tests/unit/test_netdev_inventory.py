"""The switch part of the inventory: isolation VLAN, saving, privileged mode, VRP8, and
how a run reaches a switch (host keys strict except in a drill on a drill inventory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.engine.endpoints import switch_endpoint
from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory

DRILL = Path(__file__).parent.parent / "data" / "netdev" / "runbook" / "drill-huawei.yaml"


def inventory_with(tmp_path: Path, environment: str = "drill", **switch: Any) -> Any:
    data = yaml.safe_load(DRILL.read_text())
    data["environment"] = environment
    data["defaults"] = {"ssh": {"host_key_policy": "accept-new"}}
    data["switches"][0].update(switch)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path)


def test_switch_defaults_park_in_vlan_999_and_do_not_save(tmp_path: Path) -> None:
    switch = inventory_with(tmp_path).switch("sw-funds")
    assert (switch.isolation_vlan, switch.save, switch.enable_secret) == (999, False, None)


def test_the_inventory_sets_isolation_vlan_saving_and_the_enable_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SW_ENABLE", "en-Secret-81")
    inventory = inventory_with(
        tmp_path,
        device_type="huawei_vrpv8",
        isolation_vlan=3999,
        save=True,
        enable_secret="env:SW_ENABLE",
    )
    endpoint = switch_endpoint(inventory.switch("sw-funds"), inventory, mode="drill")
    assert endpoint.device_type == "huawei_vrpv8"
    assert (endpoint.isolation_vlan, endpoint.save_config) == (3999, True)
    assert endpoint.enable_secret == "en-Secret-81"
    assert "en-Secret-81" not in repr(endpoint)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("enable_secret", "cisco123", "must be a reference"),
        ("isolation_vlan", 4095, "isolation_vlan"),
        ("isolation_vlan", 1, "isolation_vlan"),
        ("device_type", "huawei_vrp9", "device_type"),
    ],
)
def test_bad_switch_fields_are_refused(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    with pytest.raises(InventoryError, match=message) as refused:
        inventory_with(tmp_path, **{field: value})
    if field == "enable_secret":
        assert "cisco123" not in refused.value.message


def test_switch_host_keys_are_strict_in_live_runs_whatever_the_inventory_asks(
    tmp_path: Path,
) -> None:
    drill = inventory_with(tmp_path)
    in_drill = switch_endpoint(drill.switch("sw-funds"), drill, mode="drill")
    assert in_drill.host_key_policy == "accept-new"
    live = inventory_with(tmp_path, environment="production")
    in_live = switch_endpoint(live.switch("sw-funds"), live, mode="live")
    assert in_live.host_key_policy == "strict"
