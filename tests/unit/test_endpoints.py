"""Inventory items become endpoints under one host-key rule, whatever the kind of device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.endpoints import ssh_endpoint, switch_endpoint
from orchestrator.fleet.ansible_inventory import ansible_inventory
from orchestrator.inventory import load_inventory
from orchestrator.inventory.models import Inventory

ROOT = Path(__file__).parent.parent.parent


def inventory(environment: str, requested: str = "accept-new") -> Inventory:
    """One host and one switch, both asking for `requested` through the SSH defaults."""
    data: dict[str, Any] = {
        "name": "t",
        "environment": environment,
        "defaults": {"ssh": {"host_key_policy": requested}},
        "known_hosts": "/etc/dr/known_hosts",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-1", "address": "10.0.0.11", "site": "dc"}],
        "switches": [
            {
                "name": "sw-1",
                "site": "dc",
                "network": "funds",
                "device_type": "linux",
                "address": "10.0.0.21",
                "username": "netops",
            }
        ],
    }
    return Inventory.model_validate(data)


def test_a_live_run_is_strict_for_switches_although_the_inventory_says_accept_new() -> None:
    production = inventory("production")
    assert production.defaults.ssh.host_key_policy == "accept-new"
    endpoint = switch_endpoint(production.switch("sw-1"), production, mode="live")
    assert endpoint.host_key_policy == "strict"


def test_a_live_run_is_strict_for_hosts_although_the_inventory_says_accept_new() -> None:
    production = inventory("production")
    endpoint = ssh_endpoint(production.host("db-1"), production, mode="live")
    assert endpoint.host_key_policy == "strict"


def test_a_drill_takes_accept_new_for_hosts_and_switches_when_the_inventory_asks() -> None:
    drill = inventory("drill")
    assert ssh_endpoint(drill.host("db-1"), drill, mode="drill").host_key_policy == "accept-new"
    switch = switch_endpoint(drill.switch("sw-1"), drill, mode="drill")
    assert switch.host_key_policy == "accept-new"


def _policies(inv: Inventory, mode: str) -> dict[str, str]:
    """The policy each kind of connection gets: dr's own SSH, its switches, Ansible's."""
    args = ansible_inventory(inv)["all"]["hosts"]["db-1"]["ansible_ssh_common_args"]
    return {
        "host": ssh_endpoint(inv.host("db-1"), inv, mode=mode).host_key_policy,
        "switch": switch_endpoint(inv.switch("sw-1"), inv, mode=mode).host_key_policy,
        "ansible": "accept-new" if "StrictHostKeyChecking=accept-new" in args else "strict",
    }


@pytest.mark.parametrize(
    ("environment", "mode", "requested"),
    [
        ("production", "live", "accept-new"),
        ("production", "plan", "accept-new"),
        # The mode rules refuse a drill of a production inventory; were they bypassed,
        # the inventory would still be treated as live.
        ("production", "drill", "accept-new"),
        ("drill", "drill", "strict"),
    ],
)
def test_every_kind_of_device_is_strict_unless_a_drill_asks_for_accept_new(
    environment: str, mode: str, requested: str
) -> None:
    assert _policies(inventory(environment, requested), mode) == dict.fromkeys(
        ("host", "switch", "ansible"), "strict"
    )


def test_every_kind_of_device_takes_accept_new_in_a_drill_that_asks_for_it() -> None:
    assert _policies(inventory("drill"), "drill") == dict.fromkeys(
        ("host", "switch", "ansible"), "accept-new"
    )


def test_switch_endpoint_resolves_the_password_and_hides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DR_SWITCH_PASSWORD", "s3cret-netops")
    production = load_inventory(ROOT / "inventory" / "example-production.yaml")
    switch = next(s for s in production.switches if s.device_type == "huawei" and s.password)
    endpoint = switch_endpoint(switch, production, mode="live")
    assert endpoint.password == "s3cret-netops"
    assert "s3cret" not in repr(endpoint)
    assert endpoint.device_type == "huawei"
    assert endpoint.known_hosts == production.known_hosts
    assert endpoint.host_key_policy == "strict"
    assert endpoint.where == f"switch {switch.name} ({switch.address}:22)"
