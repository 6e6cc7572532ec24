"""ansible/site.yml over real SSH (one sshd on loopback) without the lab: the backup
agent's host gets dr, the agent command, a systemd timer per scheduled set that systemd
accepts, and loses the timer of a set that is no longer scheduled; the scheduler's unit
may write the textfile directory. Files land under a host root (`--host-root`), as on
the lab, so nothing system-wide changes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent.parent
VENV_BIN = Path(sys.executable).parent
RECAP = re.compile(r"^h1\s+: ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=0\s+failed=0", re.M)

pytestmark = pytest.mark.integration


def _inventory(tmp_path: Path, sshd, schedule: str | None) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "ledger.txt").write_text("branch ledger\n")
    password = tmp_path / "restic.pass"
    password.write_text("agent-test-password\n")
    password.chmod(0o600)
    backup_set: dict[str, Any] = {
        "name": "ledger",
        "host": "h1",
        "repository": str(tmp_path / "repo"),
        "password": f"file:{password}",
        "paths": [str(tmp_path / "data")],
    }
    if schedule is not None:
        backup_set["schedule"] = schedule
    document = {
        "name": "agent-test",
        "environment": "drill",
        "timezone": "Asia/Shanghai",
        "defaults": {
            "ssh": {
                "user": "root",
                "key_file": str(sshd.client_key_file),
                "known_hosts": str(sshd.known_hosts_file),
            }
        },
        "sites": [{"name": "s1", "kind": "datacentre"}],
        "hosts": [
            {
                "name": "h1",
                "address": "127.0.0.1",
                "site": "s1",
                "roles": ["dr-scheduler"],
                "ssh": {"port": sshd.port},
            }
        ],
        "backup_sets": [backup_set],
        "scheduler": {"textfile_dir": "/var/lib/prometheus/node-exporter"},
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _deploy(tmp_path: Path, inventory: Path) -> int:
    """Export the inventory and run site.yml; the number of changed tasks."""
    hosts = tmp_path / "hosts.yml"
    export = subprocess.run(
        [
            str(VENV_BIN / "dr"), "inventory", "ansible", "-i", str(inventory),
            "--host-root", str(tmp_path / "roots"), "-o", str(hosts),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"), "-i", str(hosts),
            str(ROOT / "ansible" / "site.yml"),
            "-e", f"dr_bin={VENV_BIN / 'dr'}",
            "-e", f"dr_install_from_venv={VENV_BIN.parent}",
            "-e", f"dr_records_db_url=sqlite:///{tmp_path}/records.sqlite3",
            # This machine's packages are the test's, not the role's to change.
            "-e", "dr_install_packages=false",
        ],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    recap = RECAP.search(done.stdout)
    assert recap is not None, done.stdout[-2000:]
    return int(recap["changed"])


def test_the_agent_gets_dr_and_a_timer_on_its_schedule_and_backs_up(sshd_server, tmp_path):
    inventory = _inventory(tmp_path, sshd_server, "0 3 1,15 * 1-5")
    assert _deploy(tmp_path, inventory) > 0
    assert _deploy(tmp_path, inventory) == 0

    host = tmp_path / "roots" / "h1"
    units = host / "etc" / "systemd" / "system"
    timer = (units / "dr-backup-agent-ledger.timer").read_text()
    # cron ORs a day of month with a weekday: two OnCalendar= lines, in the inventory's zone.
    assert re.findall(r"^OnCalendar=(.*)$", timer, re.M) == [
        "*-*-01,15 03:00:00 Asia/Shanghai",
        "Mon,Tue,Wed,Thu,Fri *-*-* 03:00:00 Asia/Shanghai",
    ]
    assert "Unit=dr-backup-agent@ledger.service" in timer
    service = (units / "dr-backup-agent@.service").read_text()
    assert "ExecStart=/usr/local/sbin/dr-backup-agent run %i" in service
    # systemd itself reads the pair as it would on the host (the role checked it too).
    verify = subprocess.run(
        [
            "systemd-analyze", "verify", "--recursive-errors=no", f"--root={host}",
            "/etc/systemd/system/dr-backup-agent-ledger.timer",
            "/etc/systemd/system/dr-backup-agent@ledger.service",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    # The scheduler's unit may write the inventory's textfile directory.
    drop_in = units / "dr-scheduler.service.d" / "textfile.conf"
    assert "ReadWritePaths=-/var/lib/prometheus/node-exporter" in drop_in.read_text()
    assert (host / "var" / "lib" / "prometheus" / "node-exporter").is_dir()

    # What the timer's service runs: a backup of the set on this host.
    agent = host / "usr" / "local" / "sbin" / "dr-backup-agent"
    result = subprocess.run(
        [str(agent), "run", "ledger", "--json"], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "ok" and run["files"] > 0

    # The set loses its schedule: its timer goes, the service template stays.
    assert _deploy(tmp_path, _inventory(tmp_path, sshd_server, None)) > 0
    assert not (units / "dr-backup-agent-ledger.timer").exists()
    assert (units / "dr-backup-agent@.service").exists()


def test_dr_is_installed_from_the_controllers_wheel_once(sshd_server, tmp_path):
    # Built from a copy: setuptools builds in the source tree, and other tests may too.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", ".state", "build", "*.egg-info", "__pycache__"
        ),
    )
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
            "-w", str(wheels), str(source),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("dr_orchestrator-*.whl")
    inventory = _inventory(tmp_path, sshd_server, None)
    hosts = tmp_path / "hosts.yml"
    subprocess.run(
        [str(VENV_BIN / "dr"), "inventory", "ansible", "-i", str(inventory), "-o", str(hosts)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    playbook = tmp_path / "install.yml"
    playbook.write_text(
        "- hosts: h1\n  gather_facts: false\n  become: true\n  roles: [dr_install]\n"
    )
    install_dir = tmp_path / "opt-dr"
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_NOCOLOR": "1",
    }

    def install() -> int:
        done = subprocess.run(
            [
                str(VENV_BIN / "ansible-playbook"), "-i", str(hosts), str(playbook),
                "-e", f"dr_wheel={wheel}", "-e", f"dr_install_dir={install_dir}",
                "-e", "dr_install_packages=false",
                # The dependencies are the index's business; the wheel is the role's.
                "-e", "dr_pip_extra_args=--no-deps",
            ],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        recap = RECAP.search(done.stdout)
        assert recap is not None, done.stdout[-2000:]
        return int(recap["changed"])

    assert install() > 0
    assert install() == 0
    assert (install_dir / "dist" / wheel.name).read_bytes() == wheel.read_bytes()
    shown = subprocess.run(
        [str(install_dir / ".venv" / "bin" / "python"), "-m", "pip", "show", "dr-orchestrator"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    version = wheel.name.split("-")[1]
    assert f"Version: {version}" in shown.stdout
    assert (install_dir / ".venv" / "bin" / "dr").exists()
