"""What the lab needs of this machine (root, programs, its Python extra), and what a
crashed `dr lab up` may have left on it (processes, mounts) for `dr lab down` to find."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from lab import processes
from lab.errors import LabError

REQUIRED_PROGRAMS = {
    "ip": "iproute2",
    "sshd": "openssh-server",
    "ssh-keygen": "openssh-client",
    "upsd": "nut-server",
    "upsc": "nut-client",
    "restic": "restic",
    "setpriv": "util-linux",
    "pg_basebackup": "postgresql",
    "pgbackrest": "pgbackrest",
}
LAB_PYTHON_MODULES = ("moto",)
# What a lab process's command line contains (with the state directory's path).
LAB_PROGRAMS = ("-m lab.", "sshd", "postgres", "upsd", "dummy-ups", "moto", "pgbackrest")


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab creates network namespaces and must run as root (sudo dr lab ...)")


def require_programs() -> None:
    missing = [
        f"{program} (apt-get install {package})"
        for program, package in REQUIRED_PROGRAMS.items()
        if shutil.which(program) is None
        and not Path(f"/usr/sbin/{program}").exists()
        and not Path(f"/usr/lib/postgresql/15/bin/{program}").exists()
    ]
    # The lab's own Python dependencies are an extra: a production install leaves them out.
    missing += [
        f"the Python module {module} (pip install 'dr-orchestrator[lab]')"
        for module in LAB_PYTHON_MODULES
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise LabError(
            "missing programs the lab needs: "
            + ", ".join(missing)
            + "; `make drill` installs them all"
        )


def lab_processes_by_path(root: Path) -> list[int]:
    """Lab programs still running from the state directory (a crashed `up` loses track).

    Only the lab's own kinds of program count, and never `dr` itself or what started it:
    a shell whose command line merely mentions the state directory is not a lab part.
    """
    marker = str(root)
    spared = _ancestors(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        cmdline = processes.command_line(int(entry.name))
        if marker in cmdline and any(kind in cmdline for kind in LAB_PROGRAMS):
            found.append(int(entry.name))
    return found


def _ancestors(pid: int) -> set[int]:
    chain = {pid}
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rpartition(")")[2].split()[1])
        chain.add(pid)
    return chain


def unmount_under(root: Path) -> None:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [line.split()[1] for line in mounts if line.split()[1].startswith(str(root))]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
