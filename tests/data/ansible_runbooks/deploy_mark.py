"""Test runbook: the playbook step kind on every host of the inventory."""

from pathlib import Path

from orchestrator.fleet.playbook_step import playbook_step
from orchestrator.runbook import Param, Runbook

PLAYBOOK = Path(__file__).parent.parent / "ansible" / "mark_host.yml"

rb = Runbook(
    "deploy-mark",
    title="Deploy a mark with Ansible",
    params={"host_root": Param("", "where each host's files go"), "mark": Param("one", "")},
)
rb.add(
    playbook_step(
        "mark-hosts",
        str(PLAYBOOK),
        targets="all",
        host_root="{host_root}",
        extra_vars={"mark": "{mark}"},
        timeout="120s",
    )
)
