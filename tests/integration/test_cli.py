"""The `dr` command as an operator uses it: real processes, exit codes, JSON on stdout."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from orchestrator.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_STOPPED, EXIT_WAITING
from tests.support.identity import code_for, mapped_copy

DATA = Path(__file__).parent.parent / "data"
DRILL_INV = str(DATA / "engine-drill.yaml")
PROD_INV = str(DATA / "engine-production.yaml")


@pytest.fixture
def dr(tmp_path: Path):
    env = {
        **os.environ,
        "DR_RUNBOOKS": str(DATA / "runbooks"),
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )

    run.db_path = tmp_path / "journal.sqlite3"  # type: ignore[attr-defined]
    run.effects = tmp_path / "effects.log"  # type: ignore[attr-defined]
    return run


def test_drill_prints_the_run_record_as_json(dr):
    result = dr("drill", "measured", "-i", DRILL_INV, "--json", "-p", "lost_minutes_ago=3")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["mode"] == "drill" and doc["status"] == "succeeded" and doc["drill"] is True
    assert [s["id"] for s in doc["steps"]] == ["declare", "service-restored"]
    rto = doc["measurements"]["rto_seconds"]
    assert 180 <= rto["value"] < 240 and rto["target"] == 1800 and rto["verdict"] == "met"
    assert doc["measurements"]["rpo_seconds"]["value"] == pytest.approx(120, abs=0.01)

    listed = json.loads(dr("runs", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [doc["id"]]
    shown = json.loads(dr("runs", "show", doc["id"], "--json").stdout)
    assert shown["measurements"] == doc["measurements"]


def test_failed_run_exits_1_and_names_the_step(dr):
    result = dr(
        "drill", "checks", "-i", DRILL_INV, "-p", f"effects={dr.effects}", "-p", "pass_check=false"
    )
    assert result.returncode == EXIT_FAILED
    assert "step must-pass failed" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["drill", "checks", "-i", PROD_INV], "environment: production"),
        (["run", "checks", "-i", DRILL_INV, "--reason", "x"], "environment: drill"),
        (["run", "checks", "-i", PROD_INV], "--reason"),
        (["drill", "no-such-runbook", "-i", DRILL_INV], "no runbook named"),
        (["drill", "checks", "-i", DRILL_INV, "-p", "nonsense"], "NAME=VALUE"),
        (["drill", "checks", "-i", DRILL_INV, "-p", "colour=red"], "has no parameter colour"),
        (["drill", "checks", "-i", "/no/such/inventory.yaml"], "inventory.yaml"),
        (["resume", "no-such-run"], "no journal at"),
        (["drill", "checks", "-i", DRILL_INV, "--lang", "fr"], "use zh or en"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(dr, args, message):
    result = dr(*args)
    assert result.returncode == EXIT_BAD_INPUT, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_auto_confirm_outside_a_drill_is_refused(dr):
    result = dr("run", "people", "-i", PROD_INV, "--reason", "x", "--auto-confirm")
    assert result.returncode == EXIT_BAD_INPUT  # click: no such option for `run`
    assert "Traceback" not in result.stderr


def test_manual_step_without_a_terminal_pauses_with_exit_4_then_approval_flow(dr):
    first = dr("drill", "people", "-i", DRILL_INV, "-p", f"effects={dr.effects}", "--json")
    assert first.returncode == EXIT_WAITING, first.stderr
    run_id = json.loads(first.stdout)["id"]
    assert f"dr resume {run_id}" in first.stderr

    # The terminal's account is no contact of this inventory: it can approve nothing.
    denied = dr("approve", run_id, "leadership-ok")
    assert denied.returncode == EXIT_BAD_INPUT and "add `login:" in denied.stderr


def test_journal_verify_passes_then_names_the_tampered_event(dr):
    assert dr("drill", "measured", "-i", DRILL_INV).returncode == 0
    ok = dr("journal", "verify", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    with sqlite3.connect(dr.db_path) as conn:
        conn.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    bad = dr("journal", "verify")
    assert bad.returncode == EXIT_FAILED
    assert "journal broken at event 2" in bad.stdout


def test_plan_lists_steps_and_targets_without_touching_anything(dr):
    result = dr("plan", "fanout", "-i", DRILL_INV, "--json", "-p", f"effects={dr.effects}")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["steps"][0]["hosts"] == ["app-1", "app-2", "app-3"]
    assert plan["steps"][0]["verify"] is True
    assert not dr.effects.exists()
    assert not dr.db_path.exists() or json.loads(dr("runs", "list", "--json").stdout) == []


def test_runbook_list_and_show_in_both_languages(dr):
    listed = json.loads(dr("runbook", "list", "--json").stdout)
    names = {r["name"] for r in listed}
    assert {"report-service-restart", "gated-steps", "people"} <= names
    zh = dr("runbook", "show", "people", "--lang", "zh")
    assert "人工与审批" in zh.stdout and "通知网点" in zh.stdout
    en = dr("runbook", "show", "people", "--lang", "en")
    assert "Manual and approval" in en.stdout


def test_terminal_operator_confirms_and_a_second_person_approves(dr, tmp_path):
    """A person at a terminal reads the zh instructions and confirms; the run then waits
    for the approval, which another person gives from their own session."""
    env = {
        **os.environ,
        "DR_RUNBOOKS": str(DATA / "runbooks"),
        "DR_DB": f"sqlite:///{dr.db_path}",
        "DR_OPERATOR": "duty-wang",  # repeats who the terminal is: accepted
    }
    inventory = str(mapped_copy(Path(DRILL_INV), tmp_path, "duty-wang"))
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "orchestrator.cli.main",
            "drill",
            "people",
            "-i",
            inventory,
            "-p",
            f"effects={dr.effects}",
            "--lang",
            "zh",
        ],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    child.expect("电话通知所有网点。")
    child.expect(r"\[y/n\]")
    child.sendline("y")
    child.expect("等待 leadership 审批")
    [run] = json.loads(dr("runs", "list", "--json").stdout)
    # director-zhao is not at this terminal: the one-time code sent to them proves them.
    code = code_for(f"sqlite:///{dr.db_path}", run["id"], "leadership-ok", "director-zhao")
    approved = dr("approve", run["id"], "leadership-ok", "--code", code)
    assert approved.returncode == 0, approved.stderr
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    doc = json.loads(dr("runs", "show", run["id"], "--json").stdout)
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["call-branches"]["result"] == {"confirmed_by": "duty-wang"}
    assert steps["leadership-ok"]["result"]["approved_by"] == "director-zhao"


def test_ctrl_c_pauses_the_run_and_says_how_to_resume(dr):
    env = {
        **os.environ,
        "DR_RUNBOOKS": str(DATA / "runbooks"),
        "DR_DB": f"sqlite:///{dr.db_path}",
        "DR_LANG": "en",
    }
    gates = dr.effects.parent / "gates"
    gates.mkdir()
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "orchestrator.cli.main",
            "drill",
            "gated-steps",
            "-i",
            DRILL_INV,
            "-p",
            f"effects={dr.effects}",
            "-p",
            f"gates={gates}",
        ],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    child.expect("one")
    child.sendintr()
    child.expect("pause requested")
    (gates / "one").touch()  # the current action finishes, then the run pauses
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == EXIT_STOPPED
    [run] = json.loads(dr("runs", "list", "--json").stdout)
    assert run["status"] == "paused"
    assert f"dr resume {run['id']}" in re.sub(r"\x1b\[[0-9;]*m", "", child.before)
    for name in ("two", "three", "four", "five"):
        (gates / name).touch()
    resumed = dr("resume", run["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert dr.effects.read_text().splitlines() == [
        f"effect:{n}" for n in ("one", "two", "three", "four", "five")
    ]
