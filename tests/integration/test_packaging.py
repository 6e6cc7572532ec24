"""`dr` as an installer gets it: a wheel built from the tree, in a fresh venv outside it.

The venv is installed with constraints/lowest.txt, every direct dependency at the lower
bound pyproject.toml declares, so each bound is a release that is known to work; and
without setuptools, as a Python 3.12 venv comes, so nothing may lean on pkg_resources.
Then, with that venv's `dr` and from a directory outside the tree: its version, the
runbook list, the sample drill over a real sshd on loopback (`make drill-local`'s path),
the drill's report, the shipped playbooks, and every module of the product importing.
Downloads come from the package registry through pip's cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from orchestrator.local_machine import find_free_port

ROOT = Path(__file__).parent.parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# What a checkout has that a build must not see: a build from the tree itself would also
# pick up whatever an earlier build left in build/.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".state", "build", "*.egg-info", "__pycache__", ".*_cache"
)
# Every module of the product and its floors imports with the lowest versions; the drill
# lab (lab/) needs its extra's packages, which a production install leaves out.
IMPORT_EVERY_MODULE = """
import importlib, pkgutil
for top in ("orchestrator", "runbooks", "backups"):
    package = importlib.import_module(top)
    for module in pkgutil.walk_packages(package.__path__, top + "."):
        importlib.import_module(module.name)
print("imported")
"""


def _run(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def _pins(path: Path) -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {
        canonicalize_name(name): version
        for name, _, version in (line.partition("==") for line in lines if line)
    }


@pytest.mark.packaging
@pytest.mark.timeout(1200)
def test_wheel_in_a_fresh_venv_with_the_lowest_versions_drills_and_reports(tmp_path):
    source, venv, outside = tmp_path / "source", tmp_path / "venv", tmp_path / "outside"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    outside.mkdir()
    # No PYTHONPATH: the venv must find everything in what it installed, not in the tree.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "-w",
        tmp_path / "wheel",
        source,
        env=env,
        cwd=outside,
    )
    (wheel,) = (tmp_path / "wheel").glob("dr_orchestrator-*.whl")

    _run(sys.executable, "-m", "venv", venv, env=env, cwd=outside)
    python, pip, dr = (venv / "bin" / name for name in ("python", "pip", "dr"))
    _run(pip, "uninstall", "--quiet", "--yes", "setuptools", env=env, cwd=outside)
    lowest = ROOT / "constraints" / "lowest.txt"
    _run(pip, "install", "--quiet", "-c", lowest, wheel, env=env, cwd=outside)
    installed = _pins_of_freeze(_run(pip, "freeze", env=env, cwd=outside).stdout)
    wanted = _pins(lowest)
    for requirement in map(Requirement, PROJECT["dependencies"]):
        name = canonicalize_name(requirement.name)
        assert installed[name] == wanted[name], name

    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
    }
    version = _run(dr, "--version", env=env, cwd=outside).stdout
    assert version.strip() == f"dr (dr-orchestrator) {PROJECT['version']}"
    _run(dr, "runbook", "list", env=env, cwd=outside)  # the operator's table
    listed = json.loads(_run(dr, "runbook", "list", "--json", env=env, cwd=outside).stdout)
    assert "report-service-restart" in {runbook["name"] for runbook in listed}
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    assert all(Path(runbook["source"]).is_relative_to(site_packages) for runbook in listed)
    assert _run(python, "-c", IMPORT_EVERY_MODULE, env=env, cwd=outside).stdout == "imported\n"
    _assert_ships_the_playbooks(python, env, outside)
    # Completion with this typer: bash loads the script and completes a word at a Tab.
    completion = _run(
        "bash",
        "--norc",
        "-c",
        'eval "$(dr --show-completion)"; COMP_WORDS=(dr runb); COMP_CWORD=1; '
        '_dr_completion dr; echo "${COMPREPLY[@]}"',
        env=env,
        cwd=outside,
    )
    assert completion.stdout == "runbook\n"

    target = tmp_path / "target"
    _run(python, "-m", "lab.local_target", "up", target, env=env, cwd=outside)
    try:
        drill = _run(
            dr,
            "drill",
            "report-service-restart",
            "-i",
            target / "inventory.yaml",
            "--auto-confirm",
            "-p",
            f"service_dir={target}/service",
            "-p",
            f"message_dir={target}/service/messages",
            "-p",
            f"port={find_free_port()}",
            env=env,
            cwd=outside,
        )
    finally:
        _run(python, "-m", "lab.local_target", "down", target, env=env, cwd=outside)
    assert re.search(r"RTO achieved: [\d.]+s \(target 15m00s\) met", drill.stdout)
    found = re.search(r"run id: (\d{8}-\d{6}-[0-9a-f]{6})", drill.stderr)
    assert found is not None, drill.stderr
    run_id = found.group(1)

    report = _run(dr, "report", "drill", run_id, "-f", "md", "--lang", "en", env=env, cwd=outside)
    assert run_id in report.stdout and "report-service-restart" in report.stdout
    pdf = tmp_path / "drill.pdf"
    _run(dr, "report", "drill", run_id, "-f", "pdf", "-o", pdf, env=env, cwd=outside)
    assert pdf.read_bytes().startswith(b"%PDF-")


def _pins_of_freeze(freeze: str) -> dict[str, str]:
    pairs = (line.partition("==") for line in freeze.splitlines() if "==" in line)
    return {canonicalize_name(name): version for name, _, version in pairs}


def _assert_ships_the_playbooks(python: Path, env: dict[str, str], cwd: Path) -> None:
    """site.yml resolves into the installed package, and all of ansible/ is there."""
    where = _run(
        python,
        "-c",
        "from orchestrator.fleet.playbook import resolve_playbook; "
        "print(resolve_playbook('site.yml'))",
        env=env,
        cwd=cwd,
    ).stdout.strip()
    site = Path(where)
    assert site.parent.name == "dr_ansible" and site.parent.parent.name == "site-packages"
    assert _files(site.parent) >= _files(ROOT / "ansible")


def _files(directory: Path) -> set[Path]:
    """The files under `directory`, less hidden ones (tool caches and settings)."""
    found = (p.relative_to(directory) for p in directory.rglob("*") if p.is_file())
    return {p for p in found if not any(part.startswith(".") for part in p.parts)}
