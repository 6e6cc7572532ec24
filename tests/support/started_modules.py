"""Run `dr` in a fresh interpreter and see which modules it imported to do it.

The modules a command loads are what its start costs (`dr backup run` is measured against
raw restic, bench/backup_vs_restic.py): tests assert what is loaded, never how long it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Runs the console script's entry as `dr ARGS` would, then writes the names of every
# module loaded, whatever way the command ended (typer ends each with SystemExit).
_SCRIPT = """
import json, sys
out, args = sys.argv[1], json.loads(sys.argv[2])
sys.argv = ["dr", *args]
from orchestrator.cli import main
try:
    main.run()
finally:
    with open(out, "w") as file:
        json.dump(sorted(sys.modules), file)
"""

# What only devices, the scheduler and S3 need: none belongs in a start that needs none.
HEAVY = ("netmiko", "paramiko", "pymodbus", "apscheduler", "boto3", "botocore")


@dataclass(frozen=True)
class Started:
    returncode: int
    stdout: str
    stderr: str
    modules: frozenset[str]

    def loaded(self, *packages: str) -> list[str]:
        """Which of these top-level packages (or modules) were imported."""
        return sorted(
            name
            for name in packages
            if name in self.modules or any(module.startswith(name + ".") for module in self.modules)
        )

    def command_modules(self) -> list[str]:
        """The CLI's command modules (orchestrator/cli/*_cmd.py) that were imported."""
        return sorted(
            name
            for name in self.modules
            if name.startswith("orchestrator.cli.") and name.endswith("_cmd")
        )


def start_dr(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> Started:
    out = tmp_path / "modules.json"
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(out), json.dumps(args)],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules = frozenset(json.loads(out.read_text())) if out.exists() else frozenset()
    return Started(result.returncode, result.stdout, result.stderr, modules)
