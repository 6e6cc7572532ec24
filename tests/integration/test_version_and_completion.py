"""`dr --version` and shell completion, as an operator's bash runs them.

Typer detects the shell from the parent process, so each command runs under a real bash,
as it would from the operator's prompt; the completion script is then loaded into bash
and asked to complete, which runs `dr` the way bash does at each Tab.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
# The console script of the venv the tests run in (`make` installs the tree into it).
DR_BIN = Path(sys.executable).parent


def _bash(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{DR_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),  # --install-completion writes into the home directory
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
    }
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


# Loads the completion script, then completes the words given, as bash does at a Tab.
COMPLETE = """
eval "$(dr --show-completion)"
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _dr_completion dr;
  printf '%s\\n' "${{COMPREPLY[@]}}"; }}
{calls}
"""


def test_version_prints_the_installed_distributions_version(tmp_path):
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("dr-orchestrator") == declared
    assert _bash("dr --version", tmp_path).stdout == f"dr (dr-orchestrator) {declared}\n"


def test_bash_completes_command_groups_their_commands_and_options(tmp_path):
    script = COMPLETE.format(
        calls="complete_words dr runb; echo --; complete_words dr runbook ''; echo --; "
        "complete_words dr report dri; echo --; complete_words dr --vers"
    )
    groups = _bash(script, tmp_path).stdout.split("--\n")
    assert [g.split() for g in groups] == [
        ["runbook"],
        ["list", "show"],
        ["drill", "drill-plan"],
        ["--version"],
    ]


def test_install_completion_hooks_the_script_into_bashrc(tmp_path):
    result = _bash("dr --install-completion", tmp_path)
    assert "bash completion installed" in result.stdout
    script = tmp_path / ".bash_completions" / "dr.sh"
    assert "complete -o default -F _dr_completion dr" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()
