"""Before a destructive step of a live run, every shipped runbook says what the step will
change (engine/confirmation.py, from the step's plan hook), in Chinese and English: on
the shipped lab inventory, where every runbook has what it needs, no confirmation falls
back to "names no device"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.engine.confirmation import changes_of
from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.engine.plan import make_plan
from orchestrator.inventory import load_inventory
from orchestrator.runbook import StepKind

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab.yaml"


def _confirmed_steps() -> list[tuple[str, str]]:
    registry = RunbookRegistry.discover()
    found = []
    for runbook in registry.all():
        if not runbook.confirm_destructive:
            continue
        for planned in make_plan(runbook, registry, {}, load_inventory(LAB), "en").steps:
            # A manual step is its own confirmation: the person does it and says so.
            if planned.step.destructive and planned.step.kind is not StepKind.MANUAL:
                found.append((runbook.name, planned.path))
    return found


def test_the_shipped_runbooks_have_confirmed_steps():
    steps = _confirmed_steps()
    assert ("line-failover", "swap-to-standby-line") in steps
    assert ("dual-host-cutover", "promote-standby") in steps
    assert len(steps) >= 20


@pytest.mark.parametrize(("name", "path"), _confirmed_steps())
def test_each_confirmation_names_what_changes(name, path):
    registry = RunbookRegistry.discover()
    inventory = load_inventory(LAB)
    plan = make_plan(registry.get(name), registry, {}, inventory, "en")
    assert not plan.problems
    [(planned, row)] = [(p, r) for p, r in zip(plan.steps, plan.rows, strict=True)
                        if p.path == path]  # fmt: skip
    for lang, fallback in (("zh", "未列出"), ("en", "names no device")):
        said = changes_of(planned, list(row.hosts), inventory, lang)  # type: ignore[arg-type]
        assert said and not any(fallback in line for line in said), (lang, said)
        # Each line names a device the inventory has (a switch, host, UPS, generator) or
        # what a person does.
        names = {h.name for h in inventory.hosts} | {s.name for s in inventory.switches}
        names |= {u.name for u in inventory.power.ups} | {
            g.name for g in inventory.power.generators
        }
        assert all(any(n in line for n in names) or "人工" in line or "by hand" in line
                   or "本机" in line or "this machine" in line for line in said), said  # fmt: skip


def test_a_confirmation_during_a_run_names_the_host_the_run_found():
    """rebuild-standby's target is found at run time (check-pair): the confirmation names
    that host, not the plan's assumption."""
    registry = RunbookRegistry.discover()
    inventory = load_inventory(LAB)
    plan = make_plan(registry.get("rebuild-standby"), registry, {}, inventory, "en")
    [stop] = [p for p in plan.steps if p.path == "stop-target"]
    pair = inventory.host_pairs[0]
    assumed = changes_of(stop, [], inventory, "en")
    assert f"host {pair.primary} " in assumed[0] and "assuming" in assumed[0]
    facts = {"rebuild_target": pair.standby, "rebuild_primary": pair.primary}
    found = changes_of(stop, [], inventory, "en", facts)
    assert found[0].startswith(f"host {pair.standby} ") and "assuming" not in found[0]


CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _all_touches(lang: str):
    registry = RunbookRegistry.discover()
    inventory = load_inventory(LAB)
    for runbook in registry.all():
        plan = make_plan(runbook, registry, {}, inventory, lang)  # type: ignore[arg-type]
        for row in plan.rows:
            for touch in row.touches:
                yield runbook.name, row.id, touch


def test_every_plan_note_and_persons_task_is_said_in_chinese():
    """What `dr plan` and a confirmation say beside a device (why, what is assumed) and
    what a person is asked to do: Chinese in zh, the English as before in en."""
    notes = tasks = 0
    for name, step, touch in _all_touches("zh"):
        if touch.note.en:
            notes += 1
            assert CHINESE.search(touch.note.zh), (name, step, touch.note)
        if touch.via == "person":
            tasks += 1
            assert len(touch.commands_zh) == len(touch.commands), (name, step)
            assert all(CHINESE.search(t) for t in touch.said("zh")), (name, step, touch)
            assert touch.said("en") == touch.commands
    assert notes >= 20 and tasks >= 2


def test_a_confirmation_says_the_plans_notes_in_the_runs_language():
    registry = RunbookRegistry.discover()
    inventory = load_inventory(LAB)
    plan = make_plan(registry.get("rebuild-standby"), registry, {}, inventory, "en")
    [stop] = [p for p in plan.steps if p.path == "stop-target"]
    pair = inventory.host_pairs[0]
    [zh] = changes_of(stop, [], inventory, "zh")
    assert zh.startswith(f"主机 {pair.primary}（")
    assert f"（仅在其运行时执行；假定 {pair.primary} 是待重建的原主机" in zh
    assert "assuming" not in zh and "only if" not in zh
    [en] = changes_of(stop, [], inventory, "en")
    assert f"(each only if it runs; assuming {pair.primary} is the old primary" in en
    assert not CHINESE.search(en)
