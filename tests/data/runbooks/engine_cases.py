"""Runbooks that exercise the engine. Their side effects go to files named by parameters,
so a test (or a killed and resumed `dr` process) can see exactly what ran, and how often."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestrator.runbook import OutageWatch, Param, Runbook, Verdict
from orchestrator.text import Text


def _log(ctx: Any, line: str) -> None:
    with open(ctx.params["effects"], "a") as handle:
        handle.write(line + "\n")


def _effects(ctx: Any) -> list[str]:
    path = Path(ctx.params["effects"])
    return path.read_text().splitlines() if path.exists() else []


def _wait_for_gate(ctx: Any, name: str) -> None:
    gate = Path(ctx.params["gates"]) / name
    deadline = time.monotonic() + 120
    while not gate.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gate {gate} never opened")
        time.sleep(0.02)


# ---- gated: each step blocks on a gate file, before or after its side effect -----------

gated = Runbook(
    "gated-steps",
    title="Gated steps",
    system="engine-test",
    params={"effects": Param(""), "gates": Param(""), "gate_position": Param("before")},
)


def _gated_action(step_id: str) -> None:
    @gated.action(step_id, timeout=None)
    def act(ctx: Any) -> dict[str, str]:
        if ctx.params["gate_position"] == "before":
            _wait_for_gate(ctx, step_id)
        _log(ctx, f"effect:{step_id}")
        if ctx.params["gate_position"] == "after":
            _wait_for_gate(ctx, step_id)
        return {"done": step_id}

    @act.verify
    def took_effect(ctx: Any) -> bool:
        return f"effect:{step_id}" in _effects(ctx)


gated.mark_service_lost()
for _name in ("one", "two", "three", "four", "five"):
    _gated_action(_name)
gated.mark_service_restored()


# ---- retries, timeouts, checks, waits ----------------------------------------------------

flaky = Runbook("flaky-action", title="Flaky action", params={"effects": Param("")})


@flaky.action("flaky", retries=3, backoff=0.01)
def flaky_step(ctx: Any) -> str:
    _log(ctx, "attempt")
    if _effects(ctx).count("attempt") < 3:
        raise RuntimeError("not yet")
    return "third time lucky"


slow = Runbook("slow-action", title="Slow action", params={"effects": Param("")})


@slow.action("sleepy", timeout=0.3)
def sleepy(ctx: Any) -> None:
    time.sleep(2)
    _log(ctx, "woke")


@slow.action("after-sleepy")
def after_sleepy(ctx: Any) -> None:
    _log(ctx, "after")


checks = Runbook("checks", title="Checks", params={"effects": Param(""), "pass_check": Param(True)})


@checks.check("must-pass")
def must_pass(ctx: Any) -> Verdict:
    return Verdict(bool(ctx.params["pass_check"]), "as the parameter says")


@checks.wait_until("becomes-true", timeout=5, interval=0.05, hold=0.3)
def becomes_true(ctx: Any) -> bool:
    _log(ctx, "poll")
    return _effects(ctx).count("poll") >= 3


never = Runbook("never-true", title="Never true")


@never.wait_until("never", timeout=0.5, interval=0.05)
def never_step(ctx: Any) -> Verdict:
    return Verdict(False, Text(zh="仍不成立", en="still false"))


# ---- fan-out across hosts -----------------------------------------------------------------

fanout = Runbook(
    "fanout",
    title="Fan-out",
    params={"effects": Param(""), "fail_host": Param(""), "sleep": Param(0.0)},
)


@fanout.action("touch-each", targets="role:app")
def touch_each(ctx: Any, host: Any) -> dict[str, str]:
    time.sleep(float(ctx.params["sleep"]))
    if host.name == ctx.params["fail_host"]:
        raise RuntimeError(f"{host.name} refused")
    _log(ctx, f"touched:{host.name}")
    return {"host": host.name}


@touch_each.verify
def touched(ctx: Any, host: Any) -> bool:
    return f"touched:{host.name}" in _effects(ctx)


# ---- rollback ------------------------------------------------------------------------------

undo = Runbook(
    "rollback-all", title="Rollback", on_failure="rollback", params={"effects": Param("")}
)


@undo.action("first")
def first(ctx: Any) -> None:
    _log(ctx, "do:first")


@first.rollback
def undo_first(ctx: Any) -> None:
    _log(ctx, "undo:first")


@undo.action("second")
def second(ctx: Any) -> None:
    raise RuntimeError("second breaks")


@second.rollback
def undo_second(ctx: Any) -> None:
    _log(ctx, "undo:second")


# ---- people: manual, approval; conditions; includes; facts; markers --------------------------

people = Runbook(
    "people",
    title=Text(zh="人工与审批", en="Manual and approval"),
    system="engine-test",
    params={"effects": Param("")},
)
people.manual(
    "call-branches",
    title=Text(zh="通知网点", en="Call the branches"),
    instructions=Text(zh="电话通知所有网点。", en="Phone every branch."),
)
people.approval("leadership-ok", title=Text(zh="领导小组批准", en="Leadership approves"))


@people.action("after-approval")
def after_approval(ctx: Any) -> None:
    _log(ctx, "approved-work")


branching = Runbook("branching", title="Branching", params={"effects": Param("")})


@branching.action("diagnose")
def diagnose(ctx: Any) -> None:
    ctx.remember("fault", "line")


@branching.action("replace-device", when=lambda ctx: ctx.fact("fault") == "device")
def replace_device(ctx: Any) -> None:
    _log(ctx, "device")


@branching.action("switch-line", when=lambda ctx: ctx.fact("fault") == "line")
def switch_line(ctx: Any) -> None:
    _log(ctx, "line")


child = Runbook("child", title="Child", params={"effects": Param(""), "label": Param("x")})


@child.action("child-step")
def child_step(ctx: Any) -> None:
    _log(ctx, f"child:{ctx.params['label']}")


parent = Runbook("parent", title="Parent", params={"effects": Param(""), "skip_sub": Param("no")})
# The include's condition reads the parent's own parameter, which the child does not have.
parent.include(
    "sub",
    "child",
    params={"effects": "{effects}", "label": "from-parent"},
    when=lambda ctx: ctx.params["skip_sub"] != "yes",
)


@parent.action("last")
def last(ctx: Any) -> None:
    _log(ctx, "parent-last")


measured = Runbook(
    "measured",
    title="Measured",
    system="engine-test",
    params={"lost_minutes_ago": Param(10), "data_minutes_before": Param(2)},
)


@measured.action("declare")
def declare(ctx: Any) -> None:
    lost = datetime.now(UTC) - timedelta(minutes=int(ctx.params["lost_minutes_ago"]))
    ctx.mark_service_lost(at=lost)
    ctx.mark_last_data_point(
        lost - timedelta(minutes=int(ctx.params["data_minutes_before"])),
        source=Text(zh="测试数据点", en="test data point"),
    )


measured.mark_service_restored()


held = Runbook("held-by-param", title="Hold from a parameter", params={"hold": Param(0.3)})


@held.wait_until("steady", timeout=5, interval=0.05, hold="{hold}s")
def steady(ctx: Any) -> bool:
    return True


# The service watch's view of an outage (orchestrator/service_watch): the test journals
# the watch's events beforehand; the runbook's "service comes back" step journals the
# watch seeing it back, as the watch would while the run verifies.
watched = Runbook(
    "watched",
    title="Measured from the service watch",
    system="engine-test",
    params={"service": Param("svc"), "vantage": Param("branch-1")},
    outage_watch=OutageWatch("{service}", "{vantage}"),
)


@watched.action("declare")
def declare_watched(ctx: Any) -> None:
    ctx.mark_service_lost()


@watched.action("service-comes-back")
def service_comes_back(ctx: Any) -> None:
    where = {"service": ctx.params["service"], "vantage": ctx.params["vantage"]}
    ctx.record("service.up", {**where, "at": datetime.now(UTC).isoformat()})
    time.sleep(0.3)  # the runbook verifies a moment later


watched.mark_service_restored()
