"""The playbook step is built in fleet/ and added like any other step; the authoring API
itself never imports the fleet (the import that used to climb back up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import RunbookDefinitionError
from orchestrator.fleet.playbook_step import PlaybookAction, playbook_step
from orchestrator.runbook import Runbook, StepKind

ROOT = Path(__file__).resolve().parents[2]


def test_a_playbook_step_is_an_action_with_its_own_defaults():
    rb = Runbook("deploy", title="Deploy")

    step = rb.add(playbook_step("deploy-agent", "site.yml", targets="role:backup"))

    assert rb.steps == [step]
    assert step.kind is StepKind.ACTION and step.per_host
    assert (step.timeout, step.parallel, step.retries) == (1800.0, 4, 0)
    assert step.title.en == "Run playbook site.yml"
    assert isinstance(step.fn, PlaybookAction) and step.fn.timeout == 1800.0


def test_a_playbook_step_takes_the_usual_options_and_the_usual_checks():
    rb = Runbook("deploy", title="Deploy")
    rb.add(
        playbook_step(
            "deploy-agent",
            "site.yml",
            targets="all",
            timeout="2m",
            backoff="5s",
            retries=1,
            parallel=None,
            extra_vars={"mark": "{mark}"},
        )
    )
    [step] = rb.steps
    assert (step.timeout, step.backoff, step.retries, step.parallel) == (120.0, 5.0, 1, None)
    assert isinstance(step.fn, PlaybookAction) and step.fn.extra_vars == {"mark": "{mark}"}
    with pytest.raises(RunbookDefinitionError, match="used twice"):
        rb.add(playbook_step("deploy-agent", "site.yml", targets="all"))


def test_the_runbook_api_loads_without_the_fleet():
    script = (
        "import sys, orchestrator.runbook\n"
        "assert not [m for m in sys.modules if m.startswith('orchestrator.fleet')]\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
