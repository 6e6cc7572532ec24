"""The lab's power: a real NUT upsd with a modelled dummy-ups UPS, and the Modbus genset.

The UPS runs on a fast clock (10 model seconds per second, 60 s of battery) so an outage
reaches low battery within seconds; the generator warms up in 2 s.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lab.genset import GensetLab
from lab.ups import UpsLab
from orchestrator.errors import TransportError
from orchestrator.local_machine import find_free_port, process_is_running
from orchestrator.transports.genset import GensetClient
from orchestrator.transports.ups import NutClient, NutError, UpsReading

pytestmark = pytest.mark.integration


def _poll(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _ups_lab(base: Path, **kwargs: object) -> UpsLab:
    password_file = base / "ups_password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(12) + "\n")
    return UpsLab(
        base / "ups",
        port=find_free_port(),
        password_file=password_file,
        battery_runtime_s=60,
        low_runtime_s=20,
        time_scale=10,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def ups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpsLab]:
    lab = _ups_lab(tmp_path_factory.mktemp("power"))
    lab.start()
    yield lab
    lab.stop()


def _reading_when(
    client: NutClient, condition: Callable[[UpsReading], bool], timeout: float = 10
) -> UpsReading:
    found: list[UpsReading] = []

    def check() -> bool:
        found[:] = [client.reading()]
        return condition(found[0])

    assert _poll(check, timeout), f"UPS never got there; last reading: {found[0].variables}"
    return found[0]


def test_upsc_and_the_client_read_a_ups_on_mains(ups):
    upsc = subprocess.run(["upsc", ups.endpoint], capture_output=True, text=True, check=True)
    assert "ups.status: OL" in upsc.stdout
    reading = ups.client().reading()
    assert reading.on_line and not reading.on_battery and not reading.low_battery
    assert reading.charge_pct == 100
    assert 200 < (reading.input_voltage or 0) < 240
    assert 49.5 < (reading.input_frequency or 0) < 50.5
    assert reading.alarm is None


def test_an_outage_runs_the_battery_down_to_low_battery_and_mains_recharges_it(ups):
    client = ups.client()
    ups.set_mode("outage")
    first = _reading_when(client, lambda r: r.on_battery and "DISCHRG" in r.status)
    assert first.input_voltage == 0
    time.sleep(2)
    later = client.reading()
    assert (later.runtime_s or 0) < (first.runtime_s or 0)
    assert (later.charge_pct or 0) < (first.charge_pct or 0)
    low = _reading_when(client, lambda r: r.low_battery, timeout=15)
    assert low.on_battery and (low.runtime_s or 0) <= 20

    ups.set_mode("mains")
    back = _reading_when(client, lambda r: r.on_line)
    assert "CHRG" in back.status and not back.on_battery
    assert (back.input_voltage or 0) > 200


def test_a_ups_fault_shows_an_alarm_and_bypass_can_be_switched_by_the_operator(ups):
    client = ups.client()
    ups.set_mode("fault")
    fault = _reading_when(client, lambda r: "ALARM" in r.status)
    assert fault.on_line and fault.alarm and "fault" in fault.alarm.lower()
    assert "input.bypass.voltage" in fault.variables

    client.set("input.bypass.switch.on", "on")
    _reading_when(client, lambda r: r.on_bypass)
    client.set("input.bypass.switch.on", "off")
    ups.set_mode("mains")
    healed = _reading_when(client, lambda r: not r.on_bypass and not r.in_alarm)
    assert "ups.alarm" not in healed.variables


def test_the_outlet_is_switched_through_a_writable_variable(ups):
    client = ups.client()
    client.set("outlet.1.switch", "off")
    off = _reading_when(client, lambda r: r.variables.get("outlet.1.status") == "off")
    assert off.load_pct == 0
    client.set("outlet.1.switch", "on")
    _reading_when(client, lambda r: r.variables.get("outlet.1.status") == "on")


def test_an_instant_command_the_driver_ignores_is_an_error_not_a_silent_ok(ups):
    client = ups.client()
    assert "load.off" in client.commands()
    with pytest.raises(NutError) as caught:
        client.instcmd("load.off")
    assert caught.value.code == "UNKNOWN"
    assert "did not carry out" in caught.value.message


def test_a_wrong_password_is_a_clear_error_that_does_not_show_the_password(ups):
    wrong = "not-the-password"
    client = NutClient("127.0.0.1", ups.port, ups.ups_name, "dr", wrong)
    assert client.get("ups.status")  # reading needs no login
    with pytest.raises(TransportError) as caught:
        client.set("outlet.1.switch", "off")
    message = caught.value.message
    assert "access denied" in message and f"127.0.0.1:{ups.port}" in message
    assert ups.ups_name in message and wrong not in message
    assert ups.client().get("outlet.1.switch") == "on"


def test_stop_ends_every_ups_process_also_from_another_instance(tmp_path):
    lab = _ups_lab(tmp_path)
    lab.start()
    lab.start()  # idempotent
    pids = [pid for part in lab.pids().values() for pid in part]
    assert set(lab.pids()) == {"ups-driver", "upsd", "ups-model"}
    assert len(pids) == 5  # timeout + dummy-ups, timeout + upsd, the model
    UpsLab(lab.state_dir, port=lab.port, password_file=lab.password_file).stop()
    assert not [pid for pid in pids if process_is_running(pid)]
    assert lab.status()["state"] == "stopped"
    lab.stop()  # idempotent


@pytest.fixture
def genset(tmp_path: Path) -> Iterator[GensetLab]:
    lab = GensetLab(tmp_path / "genset", port=find_free_port(), warmup=2)
    lab.start()
    yield lab
    pid = lab.pid
    lab.stop()
    assert pid is not None and not process_is_running(pid)


def test_the_generator_starts_only_off_mains_and_is_stable_after_warmup(genset):
    with genset.client() as client:
        with pytest.raises(TransportError, match="mains breaker is closed"):
            client.start()
        with pytest.raises(TransportError, match="mains breaker is closed"):
            client.close_generator_breaker()
        status = client.status()
        assert not status.start_commanded and not status.generator_breaker_closed

        client.open_mains_breaker()
        client.start()
        started = time.monotonic()
        assert not client.status().stable
        assert _poll(lambda: client.status().stable, timeout=6)
        assert time.monotonic() - started >= 1.5
        status = client.status()
        assert status.running and status.seconds_since_start >= 2
        assert abs(status.voltage - 230) <= 23 and abs(status.frequency - 50) <= 1

        client.close_generator_breaker()
        with pytest.raises(TransportError, match="generator breaker is closed"):
            client.close_mains_breaker()
        assert client.status().premature_loadings == 0
        client.open_generator_breaker()
        client.stop()
        client.close_mains_breaker()
        assert not client.status().running


def test_closing_the_generator_breaker_on_mains_is_refused(genset):
    with GensetClient("127.0.0.1", genset.port) as client:
        with pytest.raises(TransportError) as caught:
            client.close_generator_breaker()
        assert "refused to close the generator breaker: the mains breaker is closed" in str(
            caught.value
        )
        assert not client.status().generator_breaker_closed


def test_a_generator_that_does_not_start_raises_its_fault_flag(genset):
    genset.set_fault("no-start")
    with genset.client() as client:
        client.open_mains_breaker()
        client.start()
        assert _poll(lambda: client.status().fault, timeout=6)
        status = client.status()
        assert not status.running and status.start_commanded and status.fault_code == 1
        genset.set_fault(None)
        assert _poll(lambda: not client.status().fault, timeout=3)
        client.stop()
