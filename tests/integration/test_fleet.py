"""Fleet work without the lab: the Ansible export, the playbook step kind and the
fleet check's fan-out, over real sshd servers on loopback and real ansible-playbook."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import EXIT_BAD_INPUT, EXIT_FAILED
from orchestrator.local_machine import find_free_port

ROOT = Path(__file__).parent.parent.parent
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


def _inventory(tmp_path: Path, sshd, hosts: dict[str, int]) -> Path:
    """A drill inventory whose hosts are all reached on 127.0.0.1 at the given ports."""
    document = {
        "name": "fleet-test",
        "environment": "drill",
        "defaults": {
            "ssh": {
                "user": "root",
                "key_file": str(sshd.client_key_file),
                "known_hosts": str(sshd.known_hosts_file),
                "connect_timeout": 2,
            }
        },
        "sites": [{"name": f"branch-{n}", "kind": "branch"} for n in range(1, len(hosts) + 1)],
        "hosts": [
            {
                "name": name,
                "address": "127.0.0.1",
                "site": f"branch-{n}",
                "roles": ["branch-client"],
                # The hung host waits longer for its banner than the rest take in all.
                "ssh": {"port": port, **({"connect_timeout": 12} if "hung" in name else {})},
            }
            for n, (name, port) in enumerate(hosts.items(), 1)
        ],
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _dr(*args: str, tmp_path: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3", "DR_LANG": "en"}
    return subprocess.run(
        [str(VENV_BIN / "dr"), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port whose TCP handshake completes but which never sends an SSH banner: the
    worst kind of unreachable host, which only a timeout ends."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def health_url() -> Iterator[str]:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


def test_fleet_check_reports_a_hung_host_without_holding_up_the_others(
    sshd_server, hung_port, health_url, tmp_path
):
    hosts = {f"branch-{n}": sshd_server.port for n in range(1, 6)}
    hosts["branch-hung"] = hung_port
    inventory = _inventory(tmp_path, sshd_server, hosts)
    done = _dr(
        "drill", "fleet-check", "-i", str(inventory), "-p", f"url={health_url}", "--json",
        tmp_path=tmp_path,
    )  # fmt: skip
    assert done.returncode == EXIT_FAILED, done.stderr
    step = json.loads(done.stdout)["steps"][0]
    by_host = {h["host"]: h for h in step["hosts"]}
    assert set(by_host) == set(hosts)
    for name in hosts:
        if name == "branch-hung":
            continue
        assert by_host[name]["status"] == "succeeded", by_host[name]
        assert by_host[name]["result"]["ok"] is True
        assert "HTTP 200" in by_host[name]["result"]["detail"]
    hung = by_host["branch-hung"]
    assert hung["status"] == "failed"
    assert "SSH handshake with branch-hung" in hung["error"]
    # The healthy hosts finished while the hung one was still waiting for its banner.
    healthy_done = max(by_host[n]["finished_at"] for n in hosts if n != "branch-hung")
    assert healthy_done < hung["finished_at"]


def test_fleet_check_names_the_host_whose_service_does_not_answer(sshd_server, tmp_path):
    inventory = _inventory(tmp_path, sshd_server, {"branch-1": sshd_server.port})
    closed = f"http://127.0.0.1:{find_free_port()}/health"
    done = _dr(
        "drill", "fleet-check", "-i", str(inventory), "-p", f"url={closed}", "-p", "max_time=1",
        "--json", tmp_path=tmp_path,
    )  # fmt: skip
    assert done.returncode == EXIT_FAILED
    host = json.loads(done.stdout)["steps"][0]["hosts"][0]
    assert host["status"] == "failed"
    assert "not reached" in host["error"] and "127.0.0.1" in host["error"]


def test_ansible_export_is_an_inventory_ansible_reads_with_secrets_as_lookups(tmp_path):
    lab = ROOT / "inventory" / "lab.yaml"
    out = tmp_path / "hosts.yml"
    done = _dr("inventory", "ansible", "-i", str(lab), "-o", str(out), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(out), "--list"],
        capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home")},
    )  # fmt: skip
    groups = json.loads(listed.stdout)
    assert set(groups["pair_credit"]["hosts"]) == {"dc-a", "dc-b"}
    assert groups["pair_credit_primary"]["hosts"] == ["dc-a"]
    assert set(groups["role_branch_client"]["hosts"]) == {"branch-1", "branch-2"}
    assert set(groups["kind_branch"]["hosts"]) == {"branch-1", "branch-2"}
    assert groups["dr_backup_agents"]["hosts"] == ["dc-a"]
    assert set(groups["dr_nut_clients"]["hosts"]) == {"dc-a", "dc-b", "backup"}
    dc_a = groups["_meta"]["hostvars"]["dc-a"]
    assert dc_a["ansible_host"] == "10.77.0.11"
    assert dc_a["ansible_ssh_private_key_file"] == "/var/lib/dr-lab/ssh/id_ed25519"
    assert "UserKnownHostsFile=/var/lib/dr-lab/known_hosts" in dc_a["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in dc_a["ansible_ssh_common_args"]
    agent_set = dc_a["dr_backup_sets"][0]
    assert agent_set["name"] == "credit-local"
    # The secret is a lookup Ansible evaluates on the controller, never a value.
    assert agent_set["password"] == (
        "{{ lookup('ansible.builtin.file', '/var/lib/dr-lab/secrets/restic_password') }}"
    )
    assert dc_a["dr_pair"]["vip"] == "10.77.1.10/24"


def test_ansible_export_refuses_a_host_root_for_production(tmp_path):
    production = ROOT / "inventory" / "example-production.yaml"
    done = _dr(
        "inventory", "ansible", "-i", str(production), "--host-root", str(tmp_path),
        tmp_path=tmp_path,
    )  # fmt: skip
    assert done.returncode == EXIT_BAD_INPUT
    assert "--host-root is for the drill lab" in done.stderr
    assert "Traceback" not in done.stderr


def test_playbook_step_journals_each_hosts_recap(sshd_server, tmp_path):
    refused = find_free_port()  # nothing listens: the host is unreachable at once
    hosts = {"branch-1": sshd_server.port, "branch-2": sshd_server.port, "branch-9": refused}
    inventory = _inventory(tmp_path, sshd_server, hosts)
    roots = tmp_path / "roots"
    args = [
        "drill", "deploy-mark", "-i", str(inventory),
        "--runbooks", str(ROOT / "tests" / "data" / "ansible_runbooks"),
        "-p", f"host_root={roots}", "-p", "mark=first", "--json",
    ]  # fmt: skip
    first = _dr(*args, tmp_path=tmp_path)
    assert first.returncode == EXIT_FAILED, first.stderr
    hosts_done = {h["host"]: h for h in json.loads(first.stdout)["steps"][0]["hosts"]}
    for name in ("branch-1", "branch-2"):
        assert hosts_done[name]["status"] == "succeeded"
        assert hosts_done[name]["result"]["status"] == "changed"
        assert hosts_done[name]["result"]["changed"] == 2
        assert (roots / name / "etc" / "mark").read_text() == f"{name} first\n"
    assert hosts_done["branch-9"]["status"] == "failed"
    assert "unreachable" in hosts_done["branch-9"]["error"]
