"""Approvals nobody can forge, with real `dr` processes: the starter cannot approve under
any name, the roster is fixed when the step starts, and a one-time code sent by email
approves once, for its person, its step and its run only."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import EXIT_BAD_INPUT, EXIT_WAITING
from orchestrator.incidents import IncidentStore
from orchestrator.journal import Journal
from tests.support.identity import account, code_for
from tests.support.notify_receivers import SMTP_PASSWORD

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parent.parent.parent
DATA = ROOT / "tests" / "data"
STEP = "leadership-ok"
CODE = re.compile(r"--code (\S+)")


def _inventory(tmp_path: Path, smtp_port: int, **extra: Any) -> Path:
    """The engine's drill inventory with people: duty-wang is this test's OS account; the
    two directors are not at a terminal and receive their codes by email."""
    doc: dict[str, Any] = {
        "name": "approvals-test",
        "environment": "drill",
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator", "login": account()},
            {"name": "tech-zhang", "role": "tech-team", "email": "zhang@lab.invalid"},
            {"name": "director-li", "role": "leadership", "email": "li@lab.invalid"},
            {
                "name": "director-zhao",
                "role": "leadership",
                "email": "zhao@lab.invalid",
                "language": "en",
            },
        ],
        "escalation": {
            "blue": ["duty-wang"],
            "yellow": ["duty-wang", "tech-zhang"],
            "orange": ["duty-wang", "tech-zhang", "director-li"],
            "red": ["duty-wang", "tech-zhang", "director-li", "director-zhao"],
        },
        "notifications": {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "dr@lab.invalid",
                "username": "dr-alerts",
                "allow_cleartext_login": True,  # the test server has no TLS (drill only)
                "password": "env:AP_SMTP_PASSWORD",
            },
            "retries": 0,
        },
        "console": {"url": "https://dr-console.lab.invalid:8443"},
        "targets": [
            {"system": "engine-test", "category": "information-system", "rto": "30m", "rpo": "5m"}
        ],
        **extra,
    }
    path = tmp_path / "approvals-test.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture
def box(mailbox):
    found, port = mailbox
    found.clear()
    return found, port


@pytest.fixture
def dr(tmp_path: Path):
    db_url = f"sqlite:///{tmp_path}/journal.sqlite3"
    base = {
        **{k: v for k, v in os.environ.items() if k != "DR_OPERATOR"},
        "DR_RUNBOOKS": str(DATA / "runbooks"),
        "DR_DB": db_url,
        "DR_LANG": "en",
        "AP_SMTP_PASSWORD": SMTP_PASSWORD,
    }

    outputs: list[str] = []

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", *args],
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        # What dr printed, minus its own command line (a test may pass a code in it).
        outputs.append(done.stdout + done.stderr)
        return done

    run.outputs = outputs  # type: ignore[attr-defined]
    run.db_url = db_url  # type: ignore[attr-defined]
    run.db_path = tmp_path / "journal.sqlite3"  # type: ignore[attr-defined]
    return run


def _start(dr: Any, inventory: Path, *extra: str) -> str:
    """A drill of `people` started by duty-wang; manual steps confirmed, the approval left
    to people (the inventory has no drill roster)."""
    effects = f"effects={inventory.parent / 'effects.log'}"
    started = dr(
        "drill", "people", "-i", str(inventory), "--auto-confirm", "--json", "-p", effects, *extra
    )
    assert started.returncode == EXIT_WAITING, started.stderr
    doc = json.loads(started.stdout)
    assert doc["started_by"] == "duty-wang"
    return str(doc["id"])


def _code_from_mail(box: Any, address: str, run_id: str) -> str:
    [mail] = [m for m in box.to(address) if run_id in m["Subject"]]
    text = mail.get_content()
    # Bilingual, with the console link and the command.
    assert "一次性审批码" in text and "One-time approval code" in text
    [code] = set(CODE.findall(text))  # the same code in both languages
    assert f"https://dr-console.lab.invalid:8443/approve/{code}" in text
    return str(code)


def _refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_starter_cannot_approve_under_any_name(dr, tmp_path, box):
    inventory = _inventory(tmp_path, box[1])
    # Starting under another's name is refused before anything runs.
    _refused(
        dr("drill", "people", "-i", str(inventory), "--auto-confirm", "--operator", "director-li"),
        "--operator 'director-li'",
    )
    _refused(
        dr("drill", "people", "-i", str(inventory), env={"DR_OPERATOR": "director-li"}),
        "DR_OPERATOR 'director-li'",
    )
    run_id = _start(dr, inventory)
    approve = ("approve", run_id, STEP)
    # Their own account, with or without their own name.
    _refused(dr(*approve), "duty-wang started run")
    _refused(dr(*approve, "--as", "duty-wang"), "duty-wang started run")
    # Another contact's name, by option or environment: not who this terminal is.
    _refused(dr(*approve, "--as", "director-li"), "--as 'director-li'")
    _refused(dr(*approve, env={"DR_OPERATOR": "director-li"}), "DR_OPERATOR 'director-li'")
    _refused(dr(*approve, env={"DR_OPERATOR": "tech-zhang"}), "DR_OPERATOR 'tech-zhang'")
    # A code made out to the starter proves only the starter.
    own_code = code_for(dr.db_url, run_id, STEP, "duty-wang")
    _refused(dr(*approve, "--code", own_code), "duty-wang started run")

    # Started by an account that maps to no contact: that account approves nothing either.
    unmapped = tmp_path / "unmapped.yaml"
    doc = yaml.safe_load(inventory.read_text())
    doc["contacts"][0].pop("login")
    unmapped.write_text(yaml.safe_dump(doc, sort_keys=False))
    started = dr("drill", "people", "-i", str(unmapped), "--auto-confirm", "--json")
    assert started.returncode == EXIT_WAITING, started.stderr
    other = json.loads(started.stdout)
    assert other["started_by"] == f"os:{account()}"
    _refused(dr("approve", other["id"], STEP), f"`login: {account()}`")

    # Nothing was approved by any of it.
    events = Journal(dr.db_url).events(run_id, kinds=("approval",))
    assert events == []


def test_a_code_by_email_approves_once_for_its_person_step_and_run_only(dr, tmp_path, box):
    mails, port = box
    inventory = _inventory(tmp_path, port)
    run_id = _start(dr, inventory)
    second_run = _start(dr, inventory)
    # Each leader (not the starter, not the tech team) got a code of their own by email.
    li = _code_from_mail(mails, "li@lab.invalid", run_id)
    zhao = _code_from_mail(mails, "zhao@lab.invalid", run_id)
    assert li != zhao
    assert not [m for m in mails.messages if m["To"] not in ("li@lab.invalid", "zhao@lab.invalid")]

    # Not for another run, nor another step.
    _refused(dr("approve", second_run, STEP, "--code", li), "a code opens only the step")
    _refused(dr("approve", run_id, "call-branches", "--code", li), "a code opens only the step")
    _refused(dr("approve", run_id, STEP, "--code", "not-a-code"), "unknown")
    # A code proves its own person only: it cannot be given under another's name.
    _refused(dr("approve", run_id, STEP, "--code", zhao, "--as", "director-li"), "--as")

    approved = dr("approve", run_id, STEP, "--code", li, "--note", "plan read")
    assert approved.returncode == 0, approved.stderr
    assert "as director-li (one-time-code:" in " ".join(approved.stdout.split())
    # Once only, and the step takes one approval.
    _refused(dr("approve", run_id, STEP, "--code", li), "already used")

    resumed = dr("resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    steps = {s["id"]: s for s in json.loads(resumed.stdout)["steps"]}
    assert steps[STEP]["result"]["approved_by"] == "director-li"
    assert steps[STEP]["result"]["proof"].startswith("one-time-code:")

    # The codes themselves are nowhere in the journal: only their ids.
    with sqlite3.connect(dr.db_path) as conn:
        rows = conn.execute("SELECT data, actor FROM events").fetchall()
    dumped = json.dumps(rows)
    assert li not in dumped and zhao not in dumped
    # Nor in anything dr printed (the run's notices, refusals, the approval).
    assert not [out for out in dr.outputs if li in out or zhao in out]
    assert steps[STEP]["result"]["proof"].removeprefix("one-time-code:") in dumped


def test_lower_approve_raise_is_refused(dr, tmp_path, box):
    """At orange the roster is the orange leadership (director-li). Lowering the level
    needs the leadership; and even lowered, the roster fixed at orange stands."""
    mails, port = box
    inventory = _inventory(tmp_path, port)
    opened = dr(
        "incident", "open", "-i", str(inventory), "--category", "equipment",
        "--level", "orange", "--summary", "core host down", "--json",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    incident_id = json.loads(opened.stdout)["id"]
    run_id = _start(dr, inventory, "--incident", incident_id)

    # The duty operator may not lower the level (nor claim to be a leader to do so).
    lowered = dr("incident", "update", incident_id, "--level", "yellow", "--reason", "calmer")
    _refused(lowered, "only the leadership group on the orange roster")
    claimed = dr(
        "incident", "update", incident_id, "--level", "yellow", "--operator", "director-li"
    )
    _refused(claimed, "only the leadership group")
    raised = dr("incident", "update", incident_id, "--level", "red", "--reason", "worse")
    assert raised.returncode == 0, raised.stderr  # raising stays open to anyone

    # Even if the level were lowered behind dr's back, the roster fixed at orange stands:
    # director-zhao (leadership, but only on the red roster) gets no code and cannot approve.
    journal = Journal(dr.db_url)
    store = IncidentStore(journal)
    store.set_level(
        incident_id, "yellow", cause="manual", actor="x", reason="forged", raise_only=False
    )
    store.dispose()
    assert not [m for m in mails.to("zhao@lab.invalid") if run_id in m["Subject"]]
    zhao = code_for(dr.db_url, run_id, STEP, "director-zhao")
    _refused(dr("approve", run_id, STEP, "--code", zhao), "orange roster")
    li = _code_from_mail(mails, "li@lab.invalid", run_id)
    assert dr("approve", run_id, STEP, "--code", li).returncode == 0
    [roster] = journal.events(run_id, kinds=("approval.roster",))
    assert roster.data["incident_level"] == "orange" and roster.data["members"] == ["director-li"]


def test_approval_refused_on_a_changed_inventory_without_spending_the_code(dr, tmp_path, box):
    mails, port = box
    inventory = _inventory(tmp_path, port)
    run_id = _start(dr, inventory)
    li = _code_from_mail(mails, "li@lab.invalid", run_id)
    original = inventory.read_text()
    inventory.write_text(original + "\n# edited after the run started\n")
    _refused(dr("approve", run_id, STEP, "--code", li), "is not the one run")
    inventory.write_text(original)
    assert dr("approve", run_id, STEP, "--code", li).returncode == 0


def test_an_unattended_drill_approves_only_through_the_inventorys_drill_roster(dr, tmp_path, box):
    inventory = _inventory(tmp_path, box[1], drill={"auto_approve_by": ["director-zhao"]})
    effects = f"effects={tmp_path / 'effects.log'}"
    done = dr("drill", "people", "-i", str(inventory), "--auto-confirm", "--json", "-p", effects)
    assert done.returncode == 0, done.stderr
    steps = {s["id"]: s for s in json.loads(done.stdout)["steps"]}
    assert steps[STEP]["result"]["approved_by"] == "director-zhao"
    assert steps[STEP]["result"]["proof"] == "drill-roster:auto-confirm"
    # The starter in the drill roster is skipped: approval ≠ starter even unattended.
    self_roster = _inventory(tmp_path, box[1], drill={"auto_approve_by": ["duty-wang"]})
    waits = dr("drill", "people", "-i", str(self_roster), "--auto-confirm")
    assert waits.returncode == EXIT_WAITING, waits.stderr


def test_shipped_runbooks_ask_for_approval_before_orange_and_red_actions(dr):
    """The plan of each shipped runbook, from the example inventory: the approval comes
    right before the action it guards."""
    example = str(ROOT / "inventory" / "example-production.yaml")
    cases = {
        "dual-host-cutover": ("approve-promotion", "promote-standby"),
        "power-outage": ("approve-pair-shutdown", "shutdown-hosts"),
        "restore-database": ("approve-overwrite", None),
        "site-loss": ("approve-move", None),
        "logical-error": ("approve-resolution", None),
    }
    for runbook, (approval, guarded) in cases.items():
        planned = dr("plan", runbook, "-i", example, "--json", env={"DR_RUNBOOKS": ""})
        if planned.returncode != 0:
            # Runbooks with required parameters: show the steps instead.
            planned = dr("runbook", "show", runbook, "--json", env={"DR_RUNBOOKS": ""})
        assert planned.returncode == 0, (runbook, planned.stderr)
        ids = [s["id"].rsplit("/", 1)[-1] for s in json.loads(planned.stdout)["steps"]]
        assert approval in ids, (runbook, ids)
        if guarded is not None:
            assert ids.index(approval) == ids.index(guarded) - 1, (runbook, ids)


def test_codes_go_to_a_bot_the_approver_owns_and_never_to_a_group(dr, tmp_path, box, http_receiver):
    http_receiver.clear()
    urls = {}
    for name, url in [("zhao", "/wecom?key=zhao-bot"), ("group", "/generic")]:
        urls[name] = tmp_path / f"{name}.url"  # bot URLs carry their token: secret files
        urls[name].write_text(http_receiver.url(url))
        urls[name].chmod(0o600)
    hooks = [
        {"name": "zhao-own", "kind": "wecom", "owner": "director-zhao",
         "url": f"file:{urls['zhao']}"},
        {"name": "leaders", "kind": "generic", "url": f"file:{urls['group']}"},
    ]  # fmt: skip
    inventory = _inventory(tmp_path, box[1])
    doc = yaml.safe_load(inventory.read_text())
    doc["notifications"]["webhooks"] = hooks
    inventory.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    run_id = _start(dr, inventory)
    [post] = http_receiver.on("/wecom")
    [code] = set(CODE.findall(post["body"]["text"]["content"]))
    assert http_receiver.on("/generic") == []  # the group bot never sees a code
    approved = dr("approve", run_id, STEP, "--code", code)
    assert approved.returncode == 0, approved.stderr
    assert "as director-zhao" in " ".join(approved.stdout.split())


def test_approve_and_resume_sign_with_the_key_the_inventory_names(dr, tmp_path, box):
    """A keyed journal whose key only the inventory names (no DR_JOURNAL_KEY, no default
    file): the approval and the resumed steps are signed with it, so the whole chain
    verifies; an unkeyed event would break it."""
    mails, port = box
    key = tmp_path / "journal.key"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "no-default-key"), "DR_JOURNAL_KEY": ""}
    made = dr("journal", "init-key", "--path", str(key), env=env)
    assert made.returncode == 0, made.stderr
    inventory = _inventory(tmp_path, port, journal={"key": f"file:{key}"})
    effects = f"effects={inventory.parent / 'effects.log'}"
    started = dr(
        "drill", "people", "-i", str(inventory), "--auto-confirm", "--json", "-p", effects,
        env=env,
    )  # fmt: skip
    assert started.returncode == EXIT_WAITING, started.stderr
    run_id = str(json.loads(started.stdout)["id"])
    code = _code_from_mail(mails, "li@lab.invalid", run_id)

    approved = dr("approve", run_id, STEP, "--code", code, env=env)
    assert approved.returncode == 0, approved.stderr
    resumed = dr("resume", run_id, "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "succeeded"

    verified = dr("journal", "verify", "-i", str(inventory), "--json", env=env)
    assert verified.returncode == 0, (verified.stdout, verified.stderr)
    assert json.loads(verified.stdout)["ok"] is True
