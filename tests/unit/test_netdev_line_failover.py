"""`line-failover` replayed through the engine against recorded Huawei switches.

The failed line ends on a hybrid port, which has no access VLAN yet forwards for the
branch's VLAN. The runbook runs for real (engine, journal, step functions, `NetDevice`),
with two stand-ins for what does not exist on this machine: the switches are recorded
sessions (tests/data/netdev/runbook/, strict replay: any other call fails), and the
branch's PC is this machine, so the runbook's probe really runs here against a real HTTP
server standing in for the credit service.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.engine import Engine, RunbookRegistry, RunOptions
from orchestrator.errors import EXIT_FAILED, EXIT_OK
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.transports.local import run_local
from orchestrator.transports.netdev import NetDevice, PortStatus, SwitchSessions
from orchestrator.transports.netdev_connect import SwitchEndpoint
from orchestrator.transports.netdev_replay import RecordedCall, RecordedSession
from orchestrator.transports.ssh import CommandResult, SshTransport
from orchestrator.transports.ssh_connect import SshEndpoint

DATA = Path(__file__).parent.parent / "data" / "netdev" / "runbook"
LINE, XC, VLAN = "GigabitEthernet0/0/1", "GigabitEthernet0/0/3", "10"


class RecordedSwitches(SwitchSessions):
    """Each inventory switch is a `NetDevice` over its recorded session."""

    def __init__(self, sessions: dict[str, RecordedSession]) -> None:
        super().__init__()
        self.sessions = sessions
        self.devices: dict[str, NetDevice] = {}

    def device(self, endpoint: SwitchEndpoint) -> NetDevice:
        if endpoint.name not in self.devices:
            session = self.sessions[endpoint.name]
            self.devices[endpoint.name] = NetDevice(
                endpoint.name,
                endpoint.device_type,
                lambda: session,
                isolation_vlan=endpoint.isolation_vlan,
                save_config=endpoint.save_config,
            )
        return self.devices[endpoint.name]


class BranchPcIsThisMachine(SshTransport):
    """Runs the branch PC's commands on this machine: only the SSH hop is left out."""

    def run(self, endpoint: SshEndpoint, command: str, **options: Any) -> CommandResult:
        return run_local(["sh", "-c", command], timeout=options.get("timeout") or 30)


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


@pytest.fixture
def inventory(tmp_path: Path, service: str) -> Any:
    data = yaml.safe_load((DATA / "drill-huawei.yaml").read_text())
    data["host_pairs"][0]["service_url"] = service
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path)


def sessions(funds: list[RecordedCall] | None = None) -> dict[str, RecordedSession]:
    loaded = {
        name: RecordedSession.load(DATA / f"line-failover-hybrid-{name.split('-')[1]}.yaml")
        for name in ("sw-funds", "sw-nonfunds")
    }
    if funds is not None:
        loaded["sw-funds"] = RecordedSession(funds, device_type="huawei", source="edited")
    return loaded


def run(inventory: Any, tmp_path: Path, switches: RecordedSwitches) -> tuple[int, Journal]:
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    engine = Engine(
        journal,
        RunbookRegistry.discover([]),
        ssh=BranchPcIsThisMachine(),
        switches=switches,
    )
    options = RunOptions(mode="drill", operator="duty-wang", auto_confirm=True)
    outcome = engine.start("line-failover", inventory, options)
    return outcome.exit_code, journal


def forwarding_states(device: NetDevice) -> list[tuple[bool, bool]]:
    """(failed line forwards, cross-connect forwards) at every status read dr made, in order."""
    commands = device.commands
    states = []
    transcript = list(device.transcript)
    for number, exchange in enumerate(transcript):
        if exchange.sent != (commands.status[0],):
            continue
        outputs = [e.output for e in transcript[number : number + len(commands.status)]]
        ports = {p.name: p for p in commands.parse(outputs).ports}
        states.append((ports[LINE].forwards(VLAN), ports[XC].forwards(VLAN)))
    return states


def test_a_hybrid_failed_line_never_forwards_beside_the_cross_connect(
    inventory: Any, tmp_path: Path
) -> None:
    switches = RecordedSwitches(sessions())
    exit_code, journal = run(inventory, tmp_path, switches)

    assert exit_code == EXIT_OK
    for session in switches.sessions.values():
        session.assert_finished()
    funds = switches.devices["sw-funds"]
    states = forwarding_states(funds)
    assert states[0] == (True, False)  # the hybrid line forwards VLAN 10 at the start
    assert states[-1] == (False, True)  # and the cross-connect at the end
    assert (True, True) not in states
    # The line was taken out by shutting it down, before the cross-connect was touched.
    configs = [e.sent for e in funds.transcript if e.kind == "config"]
    assert configs == [
        (f"interface {LINE}", "shutdown"),
        (f"interface {XC}", "port link-type access", "port default vlan 10"),
    ]
    # Every change is journaled with the port before and after; the save is journaled
    # as not done, the inventory not asking for it.
    changes = [e.data for e in journal.events(kinds=("switch.change",))]
    assert [(c["action"], c["port"], c["changed"]) for c in changes] == [
        ("detach", LINE, True),
        ("attach", XC, True),
        ("save", None, False),
    ]
    assert changes[0]["before"]["link_type"] == "hybrid"
    assert changes[0]["after"] == {**changes[0]["before"], "admin_up": False, "detached": True}


def test_a_line_the_switch_does_not_take_out_stops_the_run_before_the_cross_connect(
    inventory: Any, tmp_path: Path
) -> None:
    recorded = sessions()["sw-funds"]._calls
    config = next(n for n, call in enumerate(recorded) if call.call == "send_config_set")
    # The switch answers the shutdown without complaint, but the port still forwards:
    # the read-back after it is the one from before.
    calls = [*recorded[: config + 1], *recorded[config - 2 : config]]
    switches = RecordedSwitches(sessions(funds=calls))
    exit_code, journal = run(inventory, tmp_path, switches)

    assert exit_code == EXIT_FAILED
    funds = switches.devices["sw-funds"]
    configs = [e.sent for e in funds.transcript if e.kind == "config"]
    assert configs == [(f"interface {LINE}", "shutdown")]  # no attach was ever sent
    assert (True, True) not in forwarding_states(funds)
    failures = [e.data for e in journal.events(kinds=("switch.change_failed",))]
    assert failures and "did not take effect" in failures[0]["error"]
    assert "hybrid, up" in failures[0]["error"]


def test_port_status_forwards_is_what_the_verify_reads() -> None:
    hybrid = PortStatus(LINE, True, False, None, "hybrid", 10, frozenset({10, 20}))
    assert hybrid.forwards("10") and hybrid.forwards(20) and not hybrid.forwards(30)
    shut = PortStatus(LINE, False, False, None, "hybrid", 10, frozenset({10, 20}))
    assert not shut.forwards("10")


def test_failback_asks_a_person_then_brings_the_shut_line_back_after_the_cross_connect(
    inventory: Any, tmp_path: Path
) -> None:
    funds = RecordedSession.load(DATA / "line-failback-hybrid-funds.yaml")
    switches = RecordedSwitches({"sw-funds": funds})
    journal = Journal(f"sqlite:///{tmp_path}/journal.sqlite3")
    engine = Engine(
        journal, RunbookRegistry.discover([]), ssh=BranchPcIsThisMachine(), switches=switches
    )
    options = RunOptions(
        mode="drill", operator="duty-wang", auto_confirm=True, params={"stable_for": "1"}
    )
    outcome = engine.start("line-failback", inventory, options)

    assert outcome.exit_code == EXIT_OK
    funds.assert_finished()
    device = switches.devices["sw-funds"]
    assert (True, True) not in forwarding_states(device)
    assert [e.sent for e in device.transcript if e.kind == "config"] == [
        ("vlan 999", "quit", f"interface {XC}", "port link-type access", "port default vlan 999"),
        (f"interface {LINE}", "undo shutdown"),
    ]
    steps = {s.step_id: s.status for s in journal.steps(outcome.run_id)}
    assert steps["confirm-primary-line-repaired"] == "succeeded"
    assert steps["primary-line-stable"] == "skipped"
