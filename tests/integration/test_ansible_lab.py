"""ansible/site.yml against the lab's hosts over SSH: real ansible-playbook, twice (the
second run changes nothing), then the deployed backup agent backs up on its host."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
VENV_BIN = Path(sys.executable).parent
RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)

pytestmark = pytest.mark.integration


def _playbook(hosts: Path, records_db: str, home: Path) -> dict[str, dict[str, int]]:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible" / "ansible.cfg"),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"), "-i", str(hosts),
            str(ROOT / "ansible" / "site.yml"),
            "-e", f"dr_bin={VENV_BIN / 'dr'}",
            "-e", f"dr_install_from_venv={VENV_BIN.parent}",
            "-e", "dr_scheduler_hosts=backup",
            "-e", f"dr_records_db_url={records_db}",
        ],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in RECAP.finditer(done.stdout)
    }


def test_site_playbook_deploys_idempotently_and_the_agent_backs_up(lab, lab_inventory, tmp_path):
    roots = lab.state.root / "ansible-roots"
    hosts = tmp_path / "hosts.yml"
    export = subprocess.run(
        [
            str(VENV_BIN / "dr"), "inventory", "ansible", "-i", str(lab.state.inventory_file),
            "--host-root", str(roots), "-o", str(hosts),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    records_db = f"sqlite:///{lab.state.root}/scheduler-records.sqlite3"
    try:
        first = _playbook(hosts, records_db, tmp_path / "ansible-home")
        assert set(first) == {h.name for h in lab_inventory.hosts}
        assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in first.values()), first
        assert first["dc-a"]["changed"] > 0 and first["backup"]["changed"] > 0
        second = _playbook(hosts, records_db, tmp_path / "ansible-home")
        assert {h: r["changed"] for h, r in second.items()} == dict.fromkeys(first, 0), second

        # What the roles left on each host's root.
        unit = roots / "backup" / "etc" / "systemd" / "system" / "dr-scheduler.service"
        assert unit.read_text() == (ROOT / "ansible" / "files" / "dr-scheduler.service").read_text()
        env_file = roots / "backup" / "etc" / "dr" / "scheduler.env"
        assert env_file.stat().st_mode & 0o777 == 0o600
        assert f"DR_DB={records_db}" in env_file.read_text()
        keys = (roots / "branch-1" / "root" / ".ssh" / "authorized_keys").read_text()
        public_key = lab.state.client_key.with_suffix(".pub").read_text().split()[1]
        assert keys.startswith("restrict ssh-ed25519 ") and public_key in keys
        upsmon = (roots / "dc-b" / "etc" / "nut" / "upsmon.conf").read_text()
        assert "MONITOR lab-ups@127.0.0.1:13493 1 dr " in upsmon
        # The agent's set runs on its schedule ("0 2 * * *") by a systemd timer, and the
        # scheduler's unit may write Debian's node_exporter directory.
        units = roots / "dc-a" / "etc" / "systemd" / "system"
        timer = (units / "dr-backup-agent-credit-local.timer").read_text()
        assert f"OnCalendar=*-*-* 02:00:00 {lab_inventory.timezone}\n" in timer
        assert (units / "dr-backup-agent@.service").is_file()
        drop_in = unit.parent / "dr-scheduler.service.d" / "textfile.conf"
        assert "ReadWritePaths=-/var/lib/prometheus/node-exporter" in drop_in.read_text()

        # The deployed agent, run on dc-a, backs up with what the role wrote. It runs in
        # dc-a's namespace by `ip netns exec` rather than over SSH: the messages live on
        # a disk the lab mounts after dc-a's sshd started, which its sessions do not see.
        agent = roots / "dc-a" / "usr" / "local" / "sbin" / "dr-backup-agent"
        result = subprocess.run(
            ["ip", "netns", "exec", "drlab-dc-a", str(agent), "run", "credit-local", "--json"],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        run = json.loads(result.stdout)
        assert run["status"] == "ok" and run["files"] > 0
        listed = subprocess.run(
            ["restic", "-r", run["repository"], "snapshots", "--json",
             "--tag", f"dr-run:{run['run_id']}"],
            env={**os.environ, "RESTIC_PASSWORD_FILE": str(lab.state.secrets / "restic_password")},
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        snapshots = json.loads(listed.stdout)
        assert run["snapshots"]["files"] in {s["short_id"] for s in snapshots}
        assert {s["hostname"] for s in snapshots} == {"dc-a"}
    finally:
        # Leave the session's lab as the other tests expect it.
        shutil.rmtree(roots, ignore_errors=True)
        shutil.rmtree(lab.state.root / "repos" / "credit-local", ignore_errors=True)
        Path(records_db.removeprefix("sqlite:///")).unlink(missing_ok=True)
