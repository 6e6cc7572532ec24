"""`ctx.local`: commands on the orchestrator's own machine, journaled like `ctx.ssh`, and
the `command` fencing method that runs through it (tests/data/runbooks/local_commands.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.cli.step_words import result_words
from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal

DATA = Path(__file__).parent.parent / "data"


class NoOperator:
    interactive = False


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path}/journal.sqlite3")


def _run(journal: Journal, runbook: str, **params: object):
    registry = RunbookRegistry.discover([DATA / "runbooks"])
    inventory = load_inventory(DATA / "engine-drill.yaml")
    options = RunOptions(
        mode="drill", operator="duty-wang", params={k: str(v) for k, v in params.items()}
    )
    outcome = Engine(journal, registry, operator_io=NoOperator()).start(runbook, inventory, options)
    [step] = journal.steps(outcome.run_id)
    commands = journal.events(outcome.run_id, kinds=("command",))
    return outcome, step, commands


def test_a_local_command_is_journaled_with_its_exit_code_and_output(journal):
    outcome, step, [command] = _run(
        journal, "local-command", command="sh -c 'echo out; echo err >&2'"
    )
    assert outcome.status == "succeeded"
    assert step.result == {"exited": 0, "stdout": "out\n"}
    assert command.host == "app-1" and command.step_id == "run"
    assert command.data["transport"] == "local"
    assert command.data["command"] == "sh -c 'echo out; echo err >&2'"
    assert (command.data["exited"], command.data["stdout"], command.data["stderr"]) == (
        0,
        "out\n",
        "err\n",
    )


def test_a_failed_local_command_fails_the_step_unless_warned(journal):
    outcome, step, [command] = _run(journal, "local-command", command="sh -c 'echo no >&2; exit 3'")
    assert outcome.status == "failed"
    assert "`sh -c 'echo no >&2; exit 3'` on this machine exited 3: no" in step.error
    assert command.data["exited"] == 3

    outcome, step, _ = _run(journal, "local-command", command="sh -c 'exit 3'", warn=True)
    assert outcome.status == "succeeded" and step.result["exited"] == 3


def test_a_local_command_is_not_run_by_a_shell(journal):
    outcome, step, _ = _run(journal, "local-command", command="echo a; echo b")
    assert outcome.status == "succeeded"
    assert step.result["stdout"] == "a; echo b\n"


def test_a_local_command_that_outlives_its_timeout_is_stopped_with_its_children(journal, tmp_path):
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    outcome, step, [command] = _run(
        journal,
        "local-command",
        command=f"sh -c 'sleep 30 & echo $! > {pid_file}; wait'",
        timeout=0.5,
    )
    assert time.monotonic() - started < 10
    assert outcome.status == "failed"
    assert "did not finish within 0.5s on this machine and was stopped" in step.error
    assert "did not finish" in command.data["error"]
    assert "exited" not in command.data
    child = int(pid_file.read_text())
    assert not Path(f"/proc/{child}").exists() or _is_zombie(child)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_a_program_that_cannot_start_is_journaled_and_fails_the_step(journal):
    outcome, step, [command] = _run(journal, "local-command", command="/nonexistent/ipmitool")
    assert outcome.status == "failed"
    assert "could not be started on this machine" in step.error
    assert "could not be started" in command.data["error"]


def test_secrets_in_the_environment_reach_the_command_but_not_the_journal(journal):
    secret = "s3cret-" + os.urandom(4).hex()
    outcome, step, [command] = _run(
        journal,
        "local-command",
        command="sh -c 'echo ${#DR_TEST_SECRET}'",
        secret=secret,
    )
    assert outcome.status == "succeeded"
    assert step.result["stdout"] == f"{len(secret)}\n"
    assert command.data["env"] == ["DR_TEST_SECRET"]
    assert secret not in str(command.data)


def test_fencing_by_command_runs_through_the_step_context(journal):
    outcome, step, [command] = _run(journal, "fence-by-command", command="echo {host} {address}")
    assert outcome.status == "succeeded"
    assert step.result == {
        "method": "command",
        "fenced": True,
        "detail": "`echo app-1 127.0.0.11` exited 0",
        "detail_zh": "`echo app-1 127.0.0.11` 退出码 0",
    }
    assert (command.host, command.data["transport"]) == ("app-1", "local")
    assert command.data["stdout"] == "app-1 127.0.0.11\n"


def test_a_fencing_command_that_fails_or_cannot_run_has_not_fenced(journal):
    _, step, _ = _run(journal, "fence-by-command", command="false")
    assert step.result == {
        "method": "command",
        "fenced": False,
        "detail": "`false` exited 1",
        "detail_zh": "`false` 退出码 1",
    }
    _, step, _ = _run(journal, "fence-by-command", command="/nonexistent/pdu-off {host}")
    assert not step.result["fenced"]
    assert "could not be started" in step.result["detail"]


def _shown(journal: Journal, run_id: str, lang: str) -> str:
    """`dr runs show RUN --lang LANG` as the operator runs it, on this journal."""
    env = {**os.environ, "DR_DB": journal.url, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", "runs", "show", run_id, "--lang", lang],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return " ".join(re.sub(r"[│┃┏┓┗┛┡┩└┘┌┐━─┳┻╇╈┼┬┴]", " ", done.stdout).split())


def test_a_fence_attempt_reads_in_the_operators_language(journal):
    outcome, _, _ = _run(journal, "fence-by-command", command="false")
    zh = _shown(journal, outcome.run_id, "zh")
    assert "`false` 退出码 1" in zh and "exited" not in zh
    assert "已隔离：否" in zh
    en = _shown(journal, outcome.run_id, "en")
    assert "`false` exited 1" in en and "退出码" not in en
    # Inside a cutover's list of attempts, each attempt's sentence in the language chosen.
    attempts = {"attempts": [step.result for step in journal.steps(outcome.run_id)]}
    assert (
        result_words(attempts, "zh") == "隔离尝试：(说明 `false` 退出码 1, 方式 command, 已隔离 否)"
    )
    assert result_words(attempts, "en") == (
        "fence attempts: (detail `false` exited 1, method command, fenced no)"
    )
