"""Probes and branch checks as inventory data: what loads, and what production refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import EXIT_BAD_INPUT, InventoryError
from orchestrator.inventory import load_inventory
from orchestrator.inventory.probes import HttpProbe, PersonCheck, TcpConnectCheck

BASE = {
    "name": "probe-test",
    "environment": "production",
    "sites": [
        {"name": "dc", "kind": "datacentre"},
        {"name": "branch-1", "kind": "branch"},
    ],
    "hosts": [
        {"name": "dc-a", "address": "127.0.0.11", "site": "dc"},
        {"name": "dc-b", "address": "127.0.0.12", "site": "dc"},
    ],
    "host_pairs": [
        {
            "name": "credit",
            "service": "credit-report",
            "primary": "dc-a",
            "standby": "dc-b",
            "vip": "127.0.0.10/32",
            "service_url": "http://127.0.0.10:8080/health",
        }
    ],
}


def _write(tmp_path: Path, changes: dict[str, object], *, pair: dict[str, object] | None = None):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.update(changes)
    if pair is not None:
        data["host_pairs"][0].update(pair)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if text in line)


def test_a_pair_without_a_probe_is_checked_by_a_get_of_its_health_url(tmp_path):
    inventory = load_inventory(_write(tmp_path, {}))
    assert inventory.host_pairs[0].probe == HttpProbe(kind="http")


def test_production_refuses_a_business_write_probe_at_its_file_and_line(tmp_path):
    path = _write(tmp_path, {}, pair={"probe": {"kind": "test-write"}})
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    (problem,) = err.value.problems
    assert problem.line == _line_of(path, "kind: test-write")
    assert "may not write business data" in problem.message
    assert f"{path}:{problem.line}" in str(problem)

    # The operator sees the same from `dr`: exit 2 and FILE:LINE on stderr.
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "inventory", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"DR_DB": f"sqlite:///{tmp_path}/j.sqlite3", "DR_LANG": "en", "PATH": ""},
    )
    assert result.returncode == EXIT_BAD_INPUT, result.stdout + result.stderr
    assert f"{path}:{problem.line}" in result.stderr


def test_a_test_write_through_a_designated_account_loads_in_production(tmp_path):
    probe = {"kind": "test-write", "account": "dr-probe"}
    inventory = load_inventory(_write(tmp_path, {}, pair={"probe": probe}))
    assert inventory.host_pairs[0].probe.kind == "test-write"


def test_a_drill_inventory_may_keep_a_plain_write(tmp_path):
    path = _write(tmp_path, {"environment": "drill"}, pair={"probe": {"kind": "test-write"}})
    assert load_inventory(path).host_pairs[0].probe.kind == "test-write"


@pytest.mark.parametrize(
    "query", ["DELETE FROM loans", "SELECT 1; DELETE FROM loans", "update loans set amount = 0"]
)
def test_an_sql_probe_must_be_one_read_only_statement(tmp_path, query):
    path = _write(tmp_path, {}, pair={"probe": {"kind": "sql", "query": query}})
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert "one read-only statement" in str(err.value)


def test_branch_checks_and_unmanaged_switches_load(tmp_path):
    sites = [
        {"name": "dc", "kind": "datacentre"},
        {"name": "branch-1", "kind": "branch", "check": {"kind": "person", "phone": "0371-1"}},
        {
            "name": "branch-2",
            "kind": "branch",
            "check": {"kind": "tcp-connect", "address": "10.1.2.1", "port": 3389},
        },
    ]
    switches = [{"name": "sw-b1", "site": "branch-1", "network": "funds", "managed": False}]
    inventory = load_inventory(_write(tmp_path, {"sites": sites, "switches": switches}))
    assert isinstance(inventory.site("branch-1").check, PersonCheck)
    assert isinstance(inventory.site("branch-2").check, TcpConnectCheck)
    assert inventory.switch("sw-b1").managed is False


def test_a_managed_switch_still_needs_its_management_address(tmp_path):
    switches = [{"name": "sw-a", "site": "dc", "network": "funds"}]
    with pytest.raises(InventoryError) as err:
        load_inventory(_write(tmp_path, {"switches": switches}))
    assert "managed: false" in str(err.value)
    assert "device_type, address, username" in str(err.value)


def test_a_check_command_may_not_quote_its_url(tmp_path):
    check = {"kind": "ssh-command", "command": "curl -fs '{url}'"}
    sites = [{"name": "dc", "kind": "datacentre"}, {"name": "b", "kind": "branch", "check": check}]
    with pytest.raises(InventoryError):
        load_inventory(_write(tmp_path, {"sites": sites}))
