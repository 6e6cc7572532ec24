"""Every shipped runbook plans clean on both shipped inventories, and on a lab inventory
generated (without the lab) for another number of branches; the example inventory is
consistent: its targets name the runbooks' systems, its drills name files that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.lab_inventory import render
from lab.state import LabState
from lab.topology import LabTopology
from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.engine.plan import make_plan
from orchestrator.inventory import Inventory, load_inventory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory" / "example-production.yaml"
LAB = ROOT / "inventory" / "lab.yaml"
# The example names its own branch and switches; the runbooks' defaults are the lab's.
EXAMPLE_PARAMS: dict[str, dict[str, str]] = {
    "line-failover": {"branch": "chengguan"},
    "line-failback": {"branch": "xiguan"},
    "switch-failover": {"switch": "hq-core-a"},
    "switch-failback": {"switch": "hq-core-a"},
}


@pytest.fixture(scope="module")
def registry() -> RunbookRegistry:
    return RunbookRegistry.discover()


def _names(registry: RunbookRegistry) -> list[str]:
    return sorted(rb.name for rb in registry.all())


def _plan_all(
    registry: RunbookRegistry, inventory: Inventory, params: dict[str, dict[str, str]]
) -> dict[str, Any]:
    found = {}
    for name in _names(registry):
        runbook = registry.get(name)
        plan = make_plan(runbook, registry, params.get(name, {}), inventory, "en")
        found[name] = plan
    return found


def test_every_shipped_runbook_plans_clean_on_the_example_inventory(registry):
    plans = _plan_all(registry, load_inventory(EXAMPLE), EXAMPLE_PARAMS)
    assert len(plans) >= 13
    assert {n: [str(p) for p in plan.problems] for n, plan in plans.items() if plan.problems} == {}


def test_every_shipped_runbook_plans_clean_on_the_shipped_lab_inventory(registry):
    plans = _plan_all(registry, load_inventory(LAB), {})
    assert {n: [str(p) for p in plan.problems] for n, plan in plans.items() if plan.problems} == {}


def test_every_shipped_runbook_plans_clean_on_a_generated_lab_inventory(registry, tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(render(LabTopology(branches=3), LabState(tmp_path / "state")))
    plans = _plan_all(registry, load_inventory(path), {})
    assert {n: [str(p) for p in plan.problems] for n, plan in plans.items() if plan.problems} == {}


def test_example_targets_name_the_systems_the_runbooks_declare(registry):
    inventory = load_inventory(EXAMPLE)
    systems = {rb.system for rb in registry.all() if rb.system}
    assert {t.system for t in inventory.targets} <= systems
    # Each runbook a target names as its procedure is measured against that target.
    for target in inventory.targets:
        assert target.procedure is not None
        assert registry.get(target.procedure).system == target.system


def test_example_drills_name_runbooks_and_inventories_that_exist(registry):
    inventory = load_inventory(EXAMPLE)
    assert inventory.drills
    for drill in inventory.drills:
        registry.get(drill.runbook)
        assert drill.inventory is not None
        drill_inventory = load_inventory(EXAMPLE.parent / drill.inventory)
        assert drill_inventory.environment == "drill"


def test_line_failover_plan_shows_the_switch_commands_of_the_example(registry):
    inventory = load_inventory(EXAMPLE)
    plan = make_plan(
        registry.get("line-failover"), registry, {"branch": "chengguan"}, inventory, "en"
    )
    swap = next(row for row in plan.rows if row.id == "swap-to-standby-line")
    sent = [(t.device, t.port, c) for t in swap.touches for c in t.commands]
    assert ("chengguan-sw-funds", "GigabitEthernet0/0/1", "port default vlan 999") in sent
    assert ("chengguan-sw-funds", "GigabitEthernet0/0/24", "port default vlan 110") in sent
    check = next(row for row in plan.rows if row.id == "branch-reaches-service")
    assert [t.device for t in check.touches] == ["chengguan-term"]
    assert "http://10.77.0.10:8080/health" in check.touches[0].commands[0]


def test_an_unknown_parameter_value_is_a_problem_naming_the_known_ones(registry):
    inventory = load_inventory(EXAMPLE)
    plan = make_plan(
        registry.get("line-failover"), registry, {"branch": "no-such-branch"}, inventory, "en"
    )
    [problem] = plan.problems
    assert problem.file == str(EXAMPLE) and problem.line is not None
    assert "no-such-branch" in problem.message and "chengguan, xiguan" in problem.message


def test_a_missing_field_a_step_needs_is_a_problem_at_its_line(registry, tmp_path):
    text = EXAMPLE.read_text().replace("  - name: chengguan-term\n", "  - name: chengguan-x\n")
    text = text.replace(
        "    site: chengguan\n    roles: [branch-client]\n",
        "    site: xiguan\n    roles: [branch-client]\n",
    )
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    (tmp_path / "lab.yaml").write_text(LAB.read_text())
    inventory = load_inventory(path)
    plan = make_plan(
        registry.get("line-failover"), registry, {"branch": "chengguan"}, inventory, "en"
    )
    assert plan.problems
    site_line = text.splitlines().index("  - name: chengguan") + 1
    assert {(p.field, p.line) for p in plan.problems} == {("sites[3].check", site_line)}


def _touches(plan, step_id):
    row = next(r for r in plan.rows if r.id == step_id)
    return [(t.via, t.device, c) for t in row.touches for c in t.commands]


def test_cutover_plan_lists_the_fencing_methods_in_order_then_promotion(registry):
    inventory = load_inventory(EXAMPLE)
    plan = make_plan(registry.get("dual-host-cutover"), registry, {}, inventory, "en")
    fence = _touches(plan, "fence-old-primary")
    assert [(via, device) for via, device, _ in fence][:3] == [("ssh", "credit-a")] * 3
    assert ("ups", "hq-ups", "INSTCMD outlet.3.load.off") in fence
    assert fence[-1][0] == "person"
    [(_, host, promote)] = _touches(plan, "promote-standby")
    assert host == "credit-b" and "promote" in promote


def test_power_outage_plan_shuts_hosts_down_in_priority_order(registry):
    inventory = load_inventory(EXAMPLE)
    plan = make_plan(registry.get("power-outage"), registry, {}, inventory, "en")
    shutdown = _touches(plan, "shutdown-hosts")
    assert [device for _, device, _ in shutdown] == ["report-gw", "credit-a", "credit-b"]
    assert ("generator", "hq-genset", "write coil 0 = 1") in _touches(plan, "start-generator")


def test_restore_plan_names_secret_sources_never_values(registry, monkeypatch):
    monkeypatch.setenv("DR_OFFSITE_S3_SECRET", "s3cr3t-value")
    inventory = load_inventory(EXAMPLE)
    plan = make_plan(registry.get("restore-database"), registry, {}, inventory, "en")
    [(via, _, command)] = _touches(plan, "restore")
    assert via == "local" and command.startswith("pgbackrest --config=/etc/pgbackrest/credit.conf")
    assert "${DR_OFFSITE_S3_SECRET}" in command and "s3cr3t-value" not in command


def test_a_point_the_parameters_cannot_name_is_a_plan_problem(registry):
    inventory = load_inventory(EXAMPLE)
    plan = make_plan(
        registry.get("restore-database"), registry, {"to": "yesterday-ish"}, inventory, "en"
    )
    assert [p.field for p in plan.problems] == ["restore"]


def test_switch_failover_without_a_cable_plan_is_a_problem_at_the_switch(registry):
    inventory = load_inventory(EXAMPLE)
    plan = make_plan(
        registry.get("switch-failover"), registry, {"switch": "xiguan-sw-funds"}, inventory, "en"
    )
    assert {p.field for p in plan.problems} == {"switches[4].standby"}
    line = EXAMPLE.read_text().splitlines().index("  - name: xiguan-sw-funds") + 1
    assert {p.line for p in plan.problems} == {line}


def test_a_choice_outside_its_values_is_a_problem(registry):
    inventory = load_inventory(LAB)
    plan = make_plan(
        registry.get("rebuild-standby"), registry, {"method": "rsync"}, inventory, "en"
    )
    [problem] = plan.problems
    assert "use one of rewind, base-backup" in problem.message


def test_switchover_plan_follows_the_direction_asked_for(registry):
    inventory = load_inventory(EXAMPLE)
    runbook = registry.get("dual-host-switchover")
    back = make_plan(runbook, registry, {"to": "primary"}, inventory, "en")
    assert [d for _, d, _ in _touches(back, "promote")] == ["credit-a"]
    wrong = make_plan(runbook, registry, {"to": "report-gw"}, inventory, "en")
    assert any("not a host of pair credit" in p.message for p in wrong.problems)
