"""Line failover and failback where the branch switches are not managed: the seed's
literal cable swap as a checklist by port labels, and branches checked by a TCP
connection from here or by a person. A real `dr` process, no lab: nothing it does needs
a host, only a real TCP listener standing in for a branch router's port."""

from __future__ import annotations

import getpass
import json
import os
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration


class _Accept(socketserver.BaseRequestHandler):
    def handle(self) -> None:  # accept and close: a port that answers
        pass


@pytest.fixture
def branch_router() -> Iterator[int]:
    """A listening TCP port on loopback, as a branch router's management port would be."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Accept)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _inventory(tmp_path: Path, router_port: int, **extra: Any) -> Path:
    def lines(n: int) -> list[dict[str, Any]]:
        return [
            {
                "name": f"branch-{n}-primary",
                "site": f"branch-{n}",
                "kind": "primary",
                "carrier": "China Telecom",
                "switch": f"sw-funds-{n}",
                "port": 1,
                "network": "funds",
                "port_label": f"F-0{n} 资金网1号口",
            },
            {
                "name": f"branch-{n}-standby",
                "site": f"branch-{n}",
                "kind": "standby",
                "carrier": "China Unicom",
                "switch": f"sw-nonfunds-{n}",
                "port": 1,
                "network": "nonfunds",
            },
        ]

    def switches(n: int) -> list[dict[str, Any]]:
        return [
            {"name": f"sw-funds-{n}", "site": f"branch-{n}", "network": "funds", "managed": False},
            {
                "name": f"sw-nonfunds-{n}",
                "site": f"branch-{n}",
                "network": "nonfunds",
                "managed": False,
                "ports": {"1": f"N-0{n} 非资金网1号口"},
            },
        ]

    data = {
        "name": "unmanaged-branches",
        "environment": "drill",
        "sites": [
            {"name": "dc", "kind": "datacentre"},
            {
                "name": "branch-1",
                "kind": "branch",
                "check": {"kind": "tcp-connect", "address": "127.0.0.1", "port": router_port},
            },
            {"name": "branch-2", "kind": "branch", "check": {"kind": "person", "phone": "110"}},
            {"name": "branch-3", "kind": "branch", "check": {"kind": "ssh-python"}},
        ],
        "hosts": [
            {"name": "dc-a", "address": "127.0.0.11", "site": "dc"},
            {"name": "dc-b", "address": "127.0.0.12", "site": "dc"},
        ],
        "host_pairs": [
            {
                "name": "credit",
                "service": "credit-report",
                "primary": "dc-a",
                "standby": "dc-b",
                "vip": "127.0.0.10/32",
                "service_url": "http://127.0.0.10:8080/health",
            }
        ],
        "lines": lines(1) + lines(2) + lines(3),
        "switches": switches(1) + switches(2) + switches(3),
        "contacts": [
            {"name": "duty-wang", "role": "duty-operator"},
            {"name": "director-li", "role": "leadership"},
        ],
        "targets": [{"system": "branch-network", "category": "network", "rto": "4h", "rpo": 0}],
        "drill": {"auto_approve_by": ["director-li"]},
    }
    for key, value in extra.items():
        data[key] = data[key] + value if isinstance(value, list) else value
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _dr(tmp_path: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3", "DR_LANG": "en"}
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args, "--auto-confirm", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def _steps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in doc["steps"]}


def _notes(tmp_path: Path, run_id: str) -> list[str]:
    from orchestrator.journal import Journal

    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    return [e.data["text"]["en"] for e in journal.events(run_id, kinds=("note",))]


def test_unmanaged_switches_make_the_swap_a_checklist_and_a_confirmation(tmp_path, branch_router):
    inventory = str(_inventory(tmp_path, branch_router))
    doc = _dr(tmp_path, "drill", "line-failover", "-i", inventory, "-p", "branch=branch-1")
    steps = _steps(doc)
    assert doc["status"] == "succeeded"
    assert "not managed" in steps["diagnose"]["result"]["detail"]
    assert "不受 dr 管理" in steps["diagnose"]["result"]["detail_zh"]  # what `--lang zh` reads
    assert steps["confirm-line-fault"]["status"] == "succeeded"
    assert steps["standby-line-healthy"]["status"] == "skipped"
    assert steps["swap-to-standby-line"]["status"] == "skipped"
    assert steps["swap-cables-by-hand"]["status"] == "succeeded"
    assert steps["swap-cables-by-hand"]["result"]["confirmed_by"] == "auto-confirm (drill)"

    # The checklist names both ports by their labels: the line's own, else the switch's.
    notes = "\n".join(_notes(tmp_path, doc["id"]))
    assert "sw-funds-1 port 1 «F-01 资金网1号口»" in notes
    assert "sw-nonfunds-1 port 1 «N-01 非资金网1号口»" in notes
    checklist = steps["swap-checklist"]["result"]["checklist"]
    assert len(checklist) == 4 and "Unplug both cables" in checklist[2]["en"]

    verified = steps["branch-reaches-service"]
    assert verified["status"] == "succeeded"
    assert verified["result"]["detail"].startswith("[check: tcp-connect]")
    assert steps["ask-the-branch"]["status"] == "skipped"
    assert doc["measurements"]["rto_seconds"]["value"] is not None

    back = _dr(
        tmp_path,
        "drill",
        "line-failback",
        "-i",
        inventory,
        "-p",
        "branch=branch-1",
    )
    back_steps = _steps(back)
    assert back["status"] == "succeeded"
    assert back_steps["confirm-primary-line-stable"]["status"] == "succeeded"
    assert back_steps["primary-line-stable"]["status"] == "skipped"
    assert back_steps["swap-to-primary-line"]["status"] == "skipped"
    assert back_steps["swap-cables-back-by-hand"]["status"] == "succeeded"
    assert back_steps["branch-reaches-service"]["status"] == "succeeded"


def test_a_branch_checked_by_a_person_is_asked_and_confirms(tmp_path, branch_router):
    inventory = str(_inventory(tmp_path, branch_router))
    doc = _dr(tmp_path, "drill", "line-failover", "-i", inventory, "-p", "branch=branch-2")
    steps = _steps(doc)
    assert doc["status"] == "succeeded"
    assert steps["branch-reaches-service"]["status"] == "skipped"
    assert steps["ask-the-branch"]["status"] == "succeeded"
    assert steps["branch-confirms-service"]["status"] == "succeeded"
    notes = "\n".join(_notes(tmp_path, doc["id"]))
    assert "Ask the staff at branch branch-2 (phone 110)" in notes


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_branch_host_checks_the_service_with_python_over_ssh(tmp_path, sshd_server):
    service = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=service.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{service.server_address[1]}/health"
        inventory = _inventory(
            tmp_path,
            9,
            defaults={
                "ssh": {
                    "user": getpass.getuser(),
                    "port": sshd_server.port,
                    "key_file": str(sshd_server.client_key_file),
                }
            },
            known_hosts=str(sshd_server.known_hosts_file),
            hosts=[{"name": "teller-3", "address": sshd_server.listen_address, "site": "branch-3"}],
        )
        data = yaml.safe_load(inventory.read_text())
        data["host_pairs"][0]["service_url"] = url
        inventory.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        doc = _dr(tmp_path, "drill", "line-failover", "-i", str(inventory), "-p", "branch=branch-3")
    finally:
        service.shutdown()
        service.server_close()
    result = _steps(doc)["branch-reaches-service"]["result"]
    assert result["detail"] == f"[check: ssh-python] teller-3: GET {url} answered 200"
    assert result["detail_zh"] == f"[检查方式：ssh-python] teller-3：GET {url} 返回 200"
