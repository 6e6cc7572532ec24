"""Running an Ansible playbook through ansible-runner against inventory hosts.

The playbook sees the inventory as `dr inventory ansible` exports it (secrets as
lookups), in a private directory that is removed afterwards; the result is each host's
recap (ok / changed / failed / unreachable) and, for a host that failed, the message of
the task that failed, so that the journal can say which task and why.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UserInputError
from orchestrator.fleet.ansible_inventory import render

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

# The playbooks and roles shipped with dr. A wheel installs the repository's ansible/ as
# the data-only package `dr_ansible` (setup.py: `ansible` itself is ansible-core's
# package, which is where a path beside our packages lands in site-packages); an editable
# install maps that name to the checkout's ansible/, and a checkout run without any
# install has ansible/ beside the packages. DR_ANSIBLE_DIR overrides all of them.
SHIPPED_ANSIBLE_PACKAGE = "dr_ansible"
SOURCE_TREE_ANSIBLE_DIR = Path(__file__).resolve().parents[2] / "ansible"
_FAILURE_EVENTS = {"runner_on_failed": "failed", "runner_on_unreachable": "unreachable"}


def shipped_ansible_dir() -> Path:
    """The ansible/ directory that came with this dr: installed, or the source tree's."""
    spec = importlib.util.find_spec(SHIPPED_ANSIBLE_PACKAGE)
    locations = spec.submodule_search_locations if spec is not None else None
    for location in locations or []:
        if (Path(location) / "site.yml").is_file():
            return Path(location)
    return SOURCE_TREE_ANSIBLE_DIR


def ansible_dir() -> Path:
    return Path(os.environ.get("DR_ANSIBLE_DIR") or shipped_ansible_dir())


def resolve_playbook(name: str) -> Path:
    """An absolute path, or a name relative to the Ansible directory (e.g. "site.yml")."""
    path = Path(name)
    if not path.is_absolute():
        path = ansible_dir() / path
    if not path.is_file():
        raise UserInputError(
            f"playbook {name!r} not found (looked at {path}); give an absolute path or a "
            f"file in {ansible_dir()} (DR_ANSIBLE_DIR)"
        )
    return path


@dataclass(frozen=True)
class HostRecap:
    """One host's line of the play recap."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "changed" if self.changed else "ok"

    def to_record(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
            "failures": self.failures,
        }


@dataclass(frozen=True)
class PlaybookRun:
    playbook: str
    rc: int
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    hosts: dict[str, HostRecap]


def run_playbook(
    inventory: Inventory,
    playbook: Path,
    *,
    limit: list[str],
    extra_vars: dict[str, Any] | None = None,
    host_root: Path | None = None,
    timeout: float | None = None,
) -> PlaybookRun:
    import ansible_runner

    with tempfile.TemporaryDirectory(prefix="dr-ansible-") as scratch:
        private = Path(scratch)
        hosts_file = private / "hosts.yml"
        hosts_file.write_text(render(inventory, host_root))
        hosts_file.chmod(0o600)
        runner = ansible_runner.run(
            private_data_dir=str(private),
            playbook=str(playbook),
            inventory=str(hosts_file),
            limit=",".join(limit),
            extravars=extra_vars or {},
            envvars=_environment(playbook, private),
            quiet=True,
            suppress_env_files=True,
            timeout=int(timeout) if timeout else None,
        )
        failures = _failures(runner.events)
        stats = runner.stats or {}
        names = set(limit) | {h for counts in stats.values() for h in counts}
        recaps = {
            name: HostRecap(
                host=name,
                ok=stats.get("ok", {}).get(name, 0),
                changed=stats.get("changed", {}).get(name, 0),
                failed=stats.get("failures", {}).get(name, 0),
                unreachable=stats.get("dark", {}).get(name, 0),
                skipped=stats.get("skipped", {}).get(name, 0),
                failures=failures.get(name, []),
            )
            for name in sorted(names)
        }
        return PlaybookRun(str(playbook), runner.rc, runner.status, recaps)


def _environment(playbook: Path, private: Path) -> dict[str, str]:
    config = playbook.parent / "ansible.cfg"
    env = {
        # The venv's ansible-playbook, also when dr was started by its full path.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # Ansible's own state (tmp, collections cache) stays in the scratch directory.
        "ANSIBLE_HOME": str(private / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(private / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    if config.is_file():
        env["ANSIBLE_CONFIG"] = str(config)
    return env


def _failures(events: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for event in events:
        kind = _FAILURE_EVENTS.get(event.get("event", ""))
        if kind is None:
            continue
        data = event.get("event_data", {})
        if data.get("ignore_errors"):
            continue
        result = data.get("res", {}) or {}
        message = str(result.get("msg") or result.get("stderr") or kind).strip()
        found.setdefault(data.get("host", "?"), []).append(
            f"{data.get('task', '?')}: {message.splitlines()[-1] if message else kind}"
        )
    return found
