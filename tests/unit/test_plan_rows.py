"""The rows of `dr plan`, built as values without a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine import RunbookRegistry
from orchestrator.engine.plan import flatten, plan_rows, resolve_params
from orchestrator.errors import UserInputError
from orchestrator.inventory import load_inventory

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture
def registry() -> RunbookRegistry:
    return RunbookRegistry.discover([DATA / "runbooks"])


def _rows(registry: RunbookRegistry, name: str, lang="en", **params):
    runbook = registry.get(name)
    steps = flatten(runbook, registry, resolve_params(runbook, params))
    return plan_rows(steps, load_inventory(DATA / "engine-drill.yaml"), lang)


def test_plan_rows_name_each_steps_hosts_and_guards(registry):
    [row] = _rows(registry, "fanout")
    assert (row.id, row.kind, row.hosts) == ("touch-each", "action", ("app-1", "app-2", "app-3"))
    assert row.flags == ("verify",)
    assert row.to_dict()["hosts"] == ["app-1", "app-2", "app-3"]


def test_plan_rows_keep_include_paths_conditions_and_instructions_in_the_operators_language(
    registry,
):
    assert [r.id for r in _rows(registry, "parent")] == ["sub/child-step", "last"]
    branching = {r.id: r for r in _rows(registry, "branching")}
    assert branching["switch-line"].flags == ("if",) and not branching["diagnose"].flags
    call = _rows(registry, "people", lang="zh")[0]
    assert (call.title, call.instructions) == ("通知网点", "电话通知所有网点。")


def test_plan_rows_refuse_targets_that_name_no_host(registry):
    runbook = registry.get("fanout")
    steps = flatten(runbook, registry, resolve_params(runbook, {}))
    no_apps = load_inventory(DATA / "engine-drill.yaml")
    no_apps.hosts.clear()
    with pytest.raises(UserInputError, match="'role:app' matches no host"):
        plan_rows(steps, no_apps, "en")
