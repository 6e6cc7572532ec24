"""The service watch against a real HTTP service that goes away and comes back, probed
from this machine (`orchestrator`) and through a branch's `tcp-connect` check."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import EXIT_BAD_INPUT
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import wait_until
from orchestrator.service_watch.outages import Scope, outage_start, restored_at
from orchestrator.service_watch.remote_loop import ProbeLoopCannotRun, RemoteProbeLoop
from orchestrator.service_watch.watcher import ServiceWatch
from orchestrator.transports.ssh import SshTransport

DR = [sys.executable, "-m", "orchestrator.cli.main"]


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class Service:
    """A health endpoint on a fixed port that can be stopped and started again."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Health)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None


@pytest.fixture
def service():
    svc = Service()
    svc.start()
    yield svc
    if svc._server is not None:
        svc.stop()


def _inventory(
    tmp_path: Path,
    port: int,
    watch: dict[str, object] | None,
    *,
    check: dict[str, object] | None = None,
    hosts: list[dict[str, object]] | None = None,
) -> Path:
    data: dict[str, Any] = {
        "name": "watch-test",
        "environment": "production",
        "sites": [
            {"name": "dc", "kind": "datacentre"},
            {
                "name": "branch-1",
                "kind": "branch",
                "check": check or {"kind": "tcp-connect", "address": "127.0.0.1", "port": port},
            },
            {"name": "branch-2", "kind": "branch", "check": {"kind": "person"}},
        ],
        "hosts": [
            {"name": "dc-a", "address": "127.0.0.11", "site": "dc"},
            {"name": "dc-b", "address": "127.0.0.12", "site": "dc"},
            *(hosts or []),
        ],
        "host_pairs": [
            {
                "name": "credit",
                "service": "credit-report",
                "primary": "dc-a",
                "standby": "dc-b",
                "vip": "127.0.0.10/32",
                "service_url": f"http://127.0.0.1:{port}/health",
            }
        ],
    }
    if watch is not None:
        data["scheduler"] = {"service_watch": watch}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _wait_for(journal: Journal, kind: str, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(journal.events(kinds=(kind,))) < count:
        assert time.monotonic() < deadline, f"fewer than {count} {kind} events"
        time.sleep(0.05)


def _outage_seen_by(
    watch: ServiceWatch, journal: Journal, service: Service
) -> tuple[datetime, datetime]:
    """Stop the service for a second while `watch` runs; check what it journaled; the
    moments it saw the service go and come back."""
    stop = threading.Event()
    runner = threading.Thread(target=watch.run, args=(stop, 60))
    runner.start()
    try:
        _wait_for(journal, "service.up", 1)
        stopped_at = datetime.now(UTC)
        service.stop()
        _wait_for(journal, "service.down", 1)
        time.sleep(1.0)
        started_at = datetime.now(UTC)
        service.start()
        _wait_for(journal, "service.up", 2)
    finally:
        stop.set()
        runner.join(timeout=10)
    kinds = [e.kind for e in journal.events() if e.kind.startswith("service")]
    assert kinds == [
        "service_watch.started",
        "service.up",
        "service.down",
        "service.up",
        "service_watch.stopped",
    ]
    first_up, down, up = (e.data for e in journal.events(kinds=("service.up", "service.down")))
    assert first_up["first"] is True
    down_at, up_at = datetime.fromisoformat(down["at"]), datetime.fromisoformat(up["at"])
    # Within an interval (and a probe's timeout) of the change, never before it.
    assert stopped_at <= down_at < stopped_at + timedelta(seconds=2)
    assert started_at <= up_at < started_at + timedelta(seconds=2)
    assert down["error"] and down["last_ok_at"] is not None
    assert up["outage_s"] == pytest.approx((up_at - down_at).total_seconds(), abs=0.01)
    return down_at, up_at


def test_the_watch_journals_when_each_vantage_lost_the_service_and_got_it_back(tmp_path, service):
    inventory = load_inventory(
        _inventory(tmp_path, service.port, {"interval": "0.2s", "timeout": "0.5s"})
    )
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    watch = ServiceWatch(inventory, journal, inventory.scheduler.service_watch)
    # Every branch dr can check by itself: branch-2 is checked by a person.
    assert [t.label for t in watch.targets] == ["credit from branch-1"]
    assert [u.vantage for u in watch.unwatched] == ["branch-2"]
    down_at, up_at = _outage_seen_by(watch, journal, service)
    scope = Scope("credit")
    seen = outage_start(journal, scope, down_at + timedelta(seconds=0.5))
    assert seen is not None and (seen.at, seen.vantage) == (down_at, "branch-1")
    back = restored_at(journal, scope, down_at, up_at + timedelta(seconds=5))
    assert back is not None and back.at == up_at
    # Once the service is back, no outage is in progress.
    assert outage_start(journal, scope, up_at + timedelta(seconds=0.1)) is None


def test_dr_scheduler_watch_from_this_machine_for_a_while(tmp_path, service):
    path = _inventory(tmp_path, service.port, {"interval": "0.2s", "vantages": ["orchestrator"]})
    db = f"sqlite:///{tmp_path}/journal.sqlite3"
    done = subprocess.run(
        [*DR, "scheduler", "watch", "-i", str(path), "--db", db, "--for", "2s"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "watching credit from orchestrator" in done.stdout
    journal = Journal(db)
    kinds = [e.kind for e in journal.events() if e.kind.startswith("service")]
    assert kinds == ["service_watch.started", "service.up", "service_watch.stopped"]


def test_dr_scheduler_watch_without_the_section_says_what_to_add(tmp_path, service):
    path = _inventory(tmp_path, service.port, None)
    done = subprocess.run(
        [*DR, "scheduler", "watch", "-i", str(path), "--db", f"sqlite:///{tmp_path}/j.sqlite3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_BAD_INPUT
    assert "scheduler.service_watch" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_from_a_branch_host_python3_keeps_running_over_one_ssh_session(
    tmp_path, service, sshd_server
):
    """`ssh-python`: the probe loop runs on the branch host (a real sshd here) for the
    watch's life, one GET per request, and ends with the watch."""
    endpoint = sshd_server.endpoint("teller-1")
    host = {
        "name": "teller-1",
        "address": endpoint.address,
        "site": "branch-1",
        "ssh": {
            "port": endpoint.port,
            "user": endpoint.user,
            "key_file": str(endpoint.key_file),
            "known_hosts": str(endpoint.known_hosts),
        },
    }
    path = _inventory(
        tmp_path,
        service.port,
        {"interval": "0.2s", "timeout": "0.5s", "vantages": ["branch-1"]},
        check={"kind": "ssh-python", "host": "teller-1"},
        hosts=[host],
    )
    inventory = load_inventory(path)
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    watch = ServiceWatch(inventory, journal, inventory.scheduler.service_watch)
    down_at, up_at = _outage_seen_by(watch, journal, service)
    assert up_at - down_at > timedelta(seconds=0.9)
    # One python3 for the whole watch: no loop is left behind once it stopped.
    assert wait_until(lambda: not _probe_loops(), timeout=10)


def _probe_loops() -> list[str]:
    found = subprocess.run(["pgrep", "-f", "for line in sys.stdin"], capture_output=True, text=True)
    return found.stdout.split()


def test_a_probe_script_that_cannot_run_is_a_set_up_problem_not_an_outage(sshd_server, service):
    """Where the branch host lacks python3, the loop's end says so (exit status and
    stderr) as its own error, which the watch journals once instead of an outage."""
    endpoint = sshd_server.endpoint("teller-1")
    url = f"http://127.0.0.1:{service.port}/health"
    with SshTransport() as ssh:
        working = RemoteProbeLoop(ssh, endpoint)
        try:
            assert working.get(url, 1.0) is None
            assert working.get(url, 1.0) is None  # the same python3, asked again
        finally:
            working.close()
        missing = "import sys; sys.stderr.write('python3: not found'); sys.exit(127)"
        broken = RemoteProbeLoop(ssh, endpoint, script=missing)
        with pytest.raises(ProbeLoopCannotRun, match="exit 127: python3: not found"):
            broken.get(url, 1.0)
