"""`dr plan` and `dr preflight` as an operator runs them: a real `dr` process, a real
sshd and a real PostgreSQL; nothing is changed on either."""

from __future__ import annotations

import getpass
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventory" / "example-production.yaml"


def dr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


def test_plan_with_an_unknown_branch_exits_2_naming_the_known_ones():
    done = dr("plan", "line-failover", "-i", str(EXAMPLE), "-p", "branch=no-such-branch")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{EXAMPLE}:" in done.stderr
    assert "no-such-branch" in done.stderr and "chengguan, xiguan" in done.stderr


def test_a_drill_with_an_unknown_branch_is_refused_before_any_run_is_recorded(tmp_path):
    lab_inventory = EXAMPLE.parent / "lab.yaml"
    db = tmp_path / "journal.sqlite3"
    done = dr(
        "drill", "line-failover", "-i", str(lab_inventory), "--auto-confirm",
        "-p", "branch=no-such-branch", "--db", f"sqlite:///{db}",
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{lab_inventory}:" in done.stderr and "branch-1, branch-2" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists() or Journal(f"sqlite:///{db}").list_runs(10) == []


def test_plan_shows_the_hosts_ports_and_commands_each_step_sends():
    done = dr("plan", "line-failover", "-i", str(EXAMPLE), "-p", "branch=chengguan")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "chengguan-sw-funds dr-netops@10.77.101.1:22 (huawei) port GigabitEthernet0/0/1" in out
    assert "$ port default vlan 999" in out and "$ port default vlan 110" in out
    assert "$ ping -c 1 -W 1 203.0.113.1" in out
    assert "http://10.77.0.10:8080/health" in out
    # Secrets stay references: nothing of a resolved password can be printed.
    assert "DR_SWITCH_PASSWORD" not in out
    # The README's JSON form of the same plan.
    as_json = dr("plan", "line-failover", "-i", str(EXAMPLE), "-p", "branch=chengguan", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["problems"] == []


def test_plan_json_carries_touches_and_problems():
    done = dr("plan", "line-failback", "-i", str(EXAMPLE), "-p", "branch=chengguan", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["problems"] == []
    swap = next(s for s in doc["steps"] if s["id"] == "swap-to-primary-line")
    assert swap["touches"][0]["device"] == "chengguan-sw-funds"
    assert swap["touches"][0]["port"] == "GigabitEthernet0/0/24"
    # xiguan's funds switch is not managed: a person swaps the cables, by port labels.
    by_hand = dr("plan", "line-failback", "-i", str(EXAMPLE), "-p", "branch=xiguan", "--json")
    assert by_hand.returncode == 0, by_hand.stderr
    steps = {s["id"]: s for s in json.loads(by_hand.stdout)["steps"]}
    assert steps["swap-to-primary-line"]["touches"][0]["device"] == "person"


def test_plan_says_its_notes_and_a_persons_tasks_in_the_language_chosen():
    args = ("plan", "line-failback", "-i", str(EXAMPLE), "-p", "branch=xiguan")
    zh = dr(*args, "--lang", "zh")
    assert zh.returncode == 0, zh.stderr
    assert "人工操作：该交换机不由 dr 管理" in zh.stdout
    assert "- 按检查清单对调 xiguan-sw-funds" in zh.stdout
    assert "by hand" not in zh.stdout and "swap the cables" not in zh.stdout
    # The plan's own words too: step kinds and guards.
    assert "[人工]" in zh.stdout and "(破坏性, 有条件" in zh.stdout
    assert "destructive" not in zh.stdout and "[manual]" not in zh.stdout
    en = dr(*args, "--lang", "en")
    assert "by hand: the switch is not managed" in en.stdout
    assert "- swap the cables of xiguan-sw-funds" in en.stdout and "人工" not in en.stdout
    assert "[manual]" in en.stdout and "(destructive, if" in en.stdout
    # The JSON keeps the English where it was, the Chinese beside it.
    [swap] = [s for s in json.loads(dr(*args, "--json").stdout)["steps"]
              if s["id"] == "swap-to-primary-line"]  # fmt: skip
    touch = swap["touches"][0]
    assert touch["note"] == "by hand: the switch is not managed"
    assert touch["note_zh"] == "人工操作：该交换机不由 dr 管理"
    assert touch["commands_zh"][0].startswith("按检查清单对调 xiguan-sw-funds")


def _inventory(tmp_path: Path, sshd, db_port: int, dead_port: int) -> Path:
    user = getpass.getuser()
    text = f"""
name: preflight-test
environment: drill
defaults:
  ssh:
    user: {user}
    port: {sshd.port}
    key_file: {sshd.client_key_file}
    connect_timeout: 3
known_hosts: {sshd.known_hosts_file}
sites:
  - {{name: dc, kind: datacentre}}
  - {{name: branch-1, kind: branch}}
hosts:
  - {{name: app-a, address: 127.0.0.1, site: dc, roles: [credit-app]}}
  - {{name: app-b, address: 127.0.0.1, site: dc, roles: [credit-app]}}
  - {{name: branch-ok, address: 127.0.0.1, site: branch-1, roles: [branch-client]}}
  - name: branch-dead
    address: 127.0.0.1
    site: branch-1
    roles: [dead-client]
    ssh: {{port: {dead_port}}}
host_pairs:
  - name: credit
    service: credit-report
    primary: app-a
    standby: app-b
    vip: 10.99.0.10/24
    service_url: http://127.0.0.1:9/health
    database:
      port: {db_port}
      name: preflight
      user: preflight
      password: env:DR_TEST_PREFLIGHT_PASSWORD
"""
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    return path


def test_preflight_reaches_each_needed_device_read_only(tmp_path, sshd_server, postgres_server):
    password = secrets.token_urlsafe(12)
    postgres_server.create_role("preflight", password)
    postgres_server.create_database("preflight", owner="preflight")
    dead = find_free_port()
    inventory = _inventory(tmp_path, sshd_server, postgres_server.port, dead)
    env = {"DR_TEST_PREFLIGHT_PASSWORD": password}

    ready = dr("preflight", "fleet-check", "-i", str(inventory), "--json", env=env)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    devices = {(d["kind"], d["name"]): d for d in json.loads(ready.stdout)["devices"]}
    assert set(devices) == {
        ("host", "branch-ok"),
        ("host", "app-a"),
        ("host", "app-b"),
        ("database", "credit"),
    }
    assert all(d["ok"] for d in devices.values())
    assert "Linux" in devices[("host", "app-a")]["detail"]
    assert "SELECT 1" in devices[("database", "credit")]["detail"]

    not_ready = dr(
        "preflight", "fleet-check", "-i", str(inventory), "-p", "targets=role:dead-client", env=env
    )
    assert not_ready.returncode == 1, not_ready.stdout + not_ready.stderr
    assert "branch-dead" in not_ready.stdout and "FAILED" in not_ready.stdout
    assert "1 of 4 device(s) not ready" in not_ready.stdout

    wrong_password = dr(
        "preflight",
        "fleet-check",
        "-i",
        str(inventory),
        "--json",
        env={"DR_TEST_PREFLIGHT_PASSWORD": "wrong"},
    )
    assert wrong_password.returncode == 1
    database = next(
        d for d in json.loads(wrong_password.stdout)["devices"] if d["kind"] == "database"
    )
    assert not database["ok"] and "wrong" not in database["detail"]


def test_preflight_refuses_a_plan_with_problems_before_reaching_anything():
    done = dr("preflight", "line-failover", "-i", str(EXAMPLE), "-p", "branch=nowhere")
    assert done.returncode == 2
    assert "nowhere" in done.stderr
