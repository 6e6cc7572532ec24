"""Fleet check across the lab's hosts: `dr drill fleet-check` against `ansible all -m ping`.

Target (issue 8): dr's wall time at most half of Ansible's, on the same hosts in the
same run. Needs root; brings up a lab with `--branches N` (default 22: 25 hosts with
dc-a, dc-b and backup) unless one of that size is up, and leaves it as it found it.

    .venv/bin/python bench/fleet_check.py [--branches 22] [--repeat 3]

Both commands are timed as whole processes (interpreter start included), cold: dr
opens new SSH connections in each run, and Ansible runs without a persisted SSH
control master. dr's check does more than a ping: on every host it looks up the route
to the service and makes an HTTP request to it. Repeats alternate which goes first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.lab import Lab
from orchestrator.fleet.ansible_inventory import render
from orchestrator.inventory import load_inventory

VENV_BIN = Path(sys.executable).parent


def time_dr(inventory: Path, db: str) -> tuple[float, int, int]:
    env = {**os.environ, "DR_DB": db, "DR_LANG": "en"}
    started = time.monotonic()
    done = subprocess.run(
        [str(VENV_BIN / "dr"), "drill", "fleet-check", "-i", str(inventory),
         "-p", "targets=all", "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"dr drill fleet-check failed:\n{done.stderr}")
    hosts = json.loads(done.stdout)["steps"][0]["hosts"]
    good = sum(1 for h in hosts if h["status"] == "succeeded")
    for host in hosts:
        if host["status"] != "succeeded":
            print(f"    {host['host']}: {host['error']}")
    return wall, good, len(hosts)


def time_ansible(hosts_file: Path, home: Path, forks: int) -> tuple[float, int]:
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        # No control master: each run connects anew, as dr does.
        "ANSIBLE_SSH_ARGS": "",
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(VENV_BIN / "ansible"), "all", "-i", str(hosts_file), "-m", "ping",
         "-f", str(forks), "--one-line"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    wall = time.monotonic() - started
    good = done.stdout.count(" | SUCCESS ")
    return wall, good


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--branches", type=int, default=22)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--forks", type=int, default=20)
    args = parser.parse_args()
    lab = Lab()
    was_up = lab.state.load().ready
    lab.up(branches=args.branches)
    try:
        inventory = lab.state.inventory_file
        with tempfile.TemporaryDirectory() as tmp:
            hosts_file = Path(tmp) / "hosts.yml"
            hosts_file.write_text(render(load_inventory(inventory)))
            count = len(load_inventory(inventory).hosts)
            drs, ansibles = [], []
            for n in range(args.repeat):
                db = f"sqlite:///{tmp}/journal-{n}.sqlite3"
                order = ["dr", "ansible"] if n % 2 == 0 else ["ansible", "dr"]
                for which in order:
                    if which == "dr":
                        wall, good, total = time_dr(inventory, db)
                        drs.append(wall)
                        print(f"  dr fleet-check: {wall:.2f} s, {good}/{total} hosts ok")
                    else:
                        wall, good = time_ansible(hosts_file, Path(tmp) / f"home-{n}", args.forks)
                        ansibles.append(wall)
                        print(f"  ansible ping:   {wall:.2f} s, {good}/{count} hosts SUCCESS")
    finally:
        if not was_up:
            lab.down()
    dr_median, ansible_median = statistics.median(drs), statistics.median(ansibles)
    ratio = dr_median / ansible_median
    print(f"fleet check over {count} lab hosts (median of {args.repeat}):")
    print(f"  dr drill fleet-check (parallel 20):  {dr_median:.2f} s")
    print(f"  ansible all -m ping -f {args.forks}:        {ansible_median:.2f} s")
    print(f"  dr / ansible: {ratio:.2f} (target ≤ 0.50: {'met' if ratio <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
