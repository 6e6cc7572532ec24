"""power-outage, power-restore and ups-fault on the lab's NUT UPS and Modbus generator.

Interlocks are provoked through a probe runbook that calls the power runbook's own step
functions out of order, and the controller directly: both must refuse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab.lab_inventory import GENSET_WARMUP_S
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until
from orchestrator.transports.genset import GensetClient

pytestmark = pytest.mark.integration


def _dr(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _drill(tmp_path: Path, lab, runbook: str, *params: str, extra=()) -> tuple[int, dict]:
    args = ["drill", runbook, "-i", str(lab.state.inventory_file), "--auto-confirm", "--json"]
    for param in params:
        args += ["-p", param]
    result = _dr(tmp_path, *args, *extra)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def _actions(tmp_path: Path, run_id: str) -> list[str]:
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    return [
        e.data["action"] + ("" if e.data["ok"] else " REFUSED")
        for e in journal.events(run_id, kinds=("power.action",))
    ]


def _alert_levels(tmp_path: Path, run_id: str) -> list[tuple[str, str]]:
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    return [
        (e.data["level"], e.data["category"])
        for e in journal.events(run_id, kinds=("alert_level",))
    ]


def _genset(lab) -> GensetClient:
    return lab.genset().client()


def _back_to_mains(lab) -> None:
    """Heal every power fault and put the breakers and generator back as the lab starts."""
    for fault in ("power-outage", "generator-no-start", "ups-fault"):
        lab.heal(fault, [])
    lab.ups().client().set("input.bypass.switch.on", "off")
    with _genset(lab) as gen:
        gen.open_generator_breaker()
        gen.stop()  # also clears a latched fault
        gen.close_mains_breaker()


def _on_battery(lab) -> bool:
    return lab.ups().client().reading().on_battery


def _runtime(lab) -> float:
    runtime = lab.ups().client().reading().runtime_s
    assert runtime is not None
    return runtime


def test_outage_through_the_generator_then_back_to_mains(lab, tmp_path):
    lab.fault("power-outage", [])
    try:
        assert wait_until(lambda: _on_battery(lab), timeout=15)
        code, doc = _drill(tmp_path, lab, "power-outage", "mains_wait=2", "stable_for=3")
        steps = {s["id"]: s for s in doc["steps"]}
        assert code == 0, steps
        assert "generator" in steps["wait-for-mains"]["result"]["detail"]
        assert steps["connect-loads"]["status"] == "succeeded"
        assert steps["shutdown-hosts"]["status"] == "skipped"
        assert doc["measurements"]["rto_seconds"]["verdict"] == "met"
        actions = _actions(tmp_path, doc["id"])
        assert actions == ["open_mains_breaker", "start", "close_generator_breaker"]
        assert _alert_levels(tmp_path, doc["id"]) == [("blue", "equipment")]
        with _genset(lab) as gen:
            status = gen.status()
        assert status.premature_loadings == 0
        assert status.generator_breaker_closed and not status.mains_breaker_closed

        lab.heal("power-outage", [])
        code, doc = _drill(tmp_path, lab, "power-restore", "mains_stable_for=2", "cooldown=1")
        assert code == 0, doc["steps"]
        assert _actions(tmp_path, doc["id"]) == [
            "open_generator_breaker",
            "close_mains_breaker",
            "stop",
        ]
        assert _alert_levels(tmp_path, doc["id"]) == [("blue", "equipment")]
        with _genset(lab) as gen:
            status = gen.status()
        assert status.mains_breaker_closed and not status.generator_breaker_closed
        assert not status.start_commanded
        assert "rto_seconds" in doc["measurements"]
    finally:
        _back_to_mains(lab)


def test_generator_no_start_ends_in_a_graceful_shutdown_in_priority_order(lab, tmp_path):
    marks = tmp_path / "shutdown"
    marks.mkdir()
    lab.fault("generator-no-start", [])
    lab.fault("power-outage", [])
    try:
        assert wait_until(lambda: _on_battery(lab), timeout=15)
        # The battery drains one second per second: a threshold just below the current
        # runtime is crossed soon after the generator has failed to start.
        low = int(_runtime(lab)) - 15
        code, doc = _drill(
            tmp_path,
            lab,
            "power-outage",
            "mains_wait=2",
            "stable_for=3",
            f"low_runtime={low}",
            f"shutdown_command=touch {marks}/{{host}}",
        )
        steps = {s["id"]: s for s in doc["steps"]}
        assert code == 1  # the service is down: no RTO until the hosts are back
        assert steps["start-generator"]["status"] == "succeeded"
        assert "shutting the hosts down" in steps["generator-stable"]["result"]["detail"]
        assert steps["connect-loads"]["status"] == "skipped"
        assert steps["shutdown-hosts"]["result"] == {"order": ["backup", "dc-a", "dc-b"]}
        assert (
            "hosts shut down in order backup, dc-a, dc-b"
            in (steps["service-back-after-shutdown"]["error"])
        )
        assert sorted(p.name for p in marks.iterdir()) == ["backup", "dc-a", "dc-b"]
        journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
        recorded = [e.data["host"] for e in journal.events(doc["id"], ("power.shutdown",))]
        assert recorded == ["backup", "dc-a", "dc-b"]
        # both hosts of the credit pair go down: equipment red (DOMAIN.md)
        assert _alert_levels(tmp_path, doc["id"]) == [("blue", "equipment"), ("red", "equipment")]
        assert "rto_seconds" not in doc["measurements"]
        with _genset(lab) as gen:
            status = gen.status()
        assert status.fault and not status.generator_breaker_closed
        assert status.premature_loadings == 0
    finally:
        _back_to_mains(lab)


def test_resume_restarts_the_generator_stable_window_and_journals_why(lab, tmp_path):
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }
    journal = Journal(env["DR_DB"])
    lab.fault("power-outage", [])
    try:
        with _genset(lab) as gen:
            gen.set_stable_window(2)  # the controller's warm-up: keep the test short
        assert wait_until(lambda: _on_battery(lab), timeout=15)
        args = ["drill", "power-outage", "-i", str(lab.state.inventory_file), "--auto-confirm"]
        params = ["-p", "mains_wait=1", "-p", "stable_for=4"]
        run = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli.main", *args, *params],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def window_begun() -> bool:
                runs = journal.list_runs(1)
                facts = journal.events(runs[0].id, kinds=("fact",)) if runs else []
                return any(e.data["key"] == "generator_window_started" for e in facts)

            assert wait_until(window_begun, timeout=60, interval=0.05)
        finally:
            run.kill()  # a crash in the middle of the stable window
            run.wait(timeout=10)
        run_id = journal.list_runs(1)[0].id
        result = _dr(tmp_path, "resume", run_id, "--json")
        doc = json.loads(result.stdout)
        steps = {s["id"]: s for s in doc["steps"]}
        assert result.returncode == 0, [s["error"] for s in doc["steps"] if s["error"]]
        notes = [e.data["text"]["en"] for e in journal.events(run_id, kinds=("note",))]
        assert any("stable window starts again from zero" in n for n in notes), notes
        # counted from zero after the resume: the whole window, not what was left of it
        assert float(steps["generator-stable"]["result"]["detail"].split("held ")[1][:-1]) >= 4
        assert steps["connect-loads"]["status"] == "succeeded"
    finally:
        with _genset(lab) as gen:
            gen.set_stable_window(GENSET_WARMUP_S)
        _back_to_mains(lab)


PROBE = textwrap.dedent(
    '''
    """Calls the power runbook's steps out of order, to show that they refuse."""
    from orchestrator.runbook import Param, Runbook
    from runbooks import power_outage as power

    rb = Runbook(
        "power-interlock-probe",
        title="probe",
        params={**power.OUTAGE_PARAMS, **power.RANGE, "probe": Param("", "")},
    )

    @rb.action("start-with-mains-closed", when=lambda ctx: ctx.params["probe"] == "start")
    def start_with_mains_closed(ctx):
        power.start_generator.fn(ctx)

    @rb.action("controller-start", when=lambda ctx: ctx.params["probe"] == "controller")
    def controller_start(ctx):
        with ctx.generator(power.the_generator(ctx).name) as gen:
            gen.start()

    @rb.action("open-and-start", when=lambda ctx: ctx.params["probe"] == "load")
    def open_and_start(ctx):
        power.open_mains_breaker.fn(ctx)
        power.start_generator.fn(ctx)

    @rb.action("connect-at-once", when=lambda ctx: ctx.params["probe"] == "load")
    def connect_at_once(ctx):
        power.connect_loads.fn(ctx)
    '''
)


def test_the_generator_never_starts_on_closed_mains_nor_loads_an_unstable_output(lab, tmp_path):
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "interlock_probe.py").write_text(PROBE)
    extra = ("--runbooks", str(probes))
    try:
        code, doc = _drill(tmp_path, lab, "power-interlock-probe", "probe=start", extra=extra)
        assert code == 1
        step = next(s for s in doc["steps"] if s["id"] == "start-with-mains-closed")
        assert "refusing to start the generator: the mains breaker is closed" in step["error"]
        assert _actions(tmp_path, doc["id"]) == []  # the command was never sent

        code, doc = _drill(tmp_path, lab, "power-interlock-probe", "probe=controller", extra=extra)
        assert code == 1
        step = next(s for s in doc["steps"] if s["id"] == "controller-start")
        assert "refused to start the generator: the mains breaker is closed" in step["error"]
        assert _actions(tmp_path, doc["id"]) == ["start REFUSED"]

        code, doc = _drill(
            tmp_path, lab, "power-interlock-probe", "probe=load", "stable_for=3", extra=extra
        )
        assert code == 1
        step = next(s for s in doc["steps"] if s["id"] == "connect-at-once")
        assert "refusing to connect the loads" in step["error"]
        assert "not been held stable" in step["error"]
        assert _actions(tmp_path, doc["id"]) == ["open_mains_breaker", "start"]
        with _genset(lab) as gen:
            status = gen.status()
        assert not status.generator_breaker_closed and status.premature_loadings == 0
    finally:
        _back_to_mains(lab)


def test_ups_fault_goes_to_bypass_only_within_the_allowed_range(lab, tmp_path):
    lab.fault("ups-fault", [])
    try:
        assert wait_until(lambda: lab.ups().client().reading().in_alarm, timeout=15)
        code, doc = _drill(tmp_path, lab, "ups-fault", "voltage_tolerance_pct=0.01")
        assert code == 1
        step = next(s for s in doc["steps"] if s["id"] == "bypass-in-range")
        # Every step's state in the message: a run that stopped elsewhere says where.
        states = [(s["id"], s["status"], s["error"]) for s in doc["steps"]]
        assert step["error"] and "OUTSIDE" in step["error"], states
        assert not lab.ups().client().reading().on_bypass

        code, doc = _drill(tmp_path, lab, "ups-fault")
        steps = {s["id"]: s for s in doc["steps"]}
        assert code == 0, [s["error"] for s in doc["steps"] if s["error"]]
        assert steps["vendor-contact"]["result"]["phone"] == "4000000000"
        assert _alert_levels(tmp_path, doc["id"]) == [("yellow", "equipment")]
        # set again by a retry while the UPS had not yet shown BYPASS: idempotent
        assert set(_actions(tmp_path, doc["id"])) == {"set input.bypass.switch.on=on"}
        assert lab.ups().client().reading().on_bypass
        assert "rto_seconds" in doc["measurements"]
    finally:
        _back_to_mains(lab)
