"""The lab UPS's behaviour: a model process that keeps dummy-ups's data file current.

`python -m lab.ups_model --dev FILE --control FILE --lifetime S
[--upsd HOST:PORT --ups NAME] [--runtime S] [--low-runtime S] [--time-scale X]`

About once a second (and at once when the mode changes) it rewrites the `.dev` file that
dummy-ups reads in `dummy-once` mode; the driver re-reads the file whenever its mtime
changes and passes the values on to upsd. The mode comes from the control file (JSON,
`{"mode": "outage"}`), written by `UpsLab.set_mode`:

- `mains`: `OL` (plus `CHRG` while the battery recharges), input ~220 V / 50 Hz.
- `outage`: `OB DISCHRG`; `battery.runtime` counts down in model seconds (real seconds
  times `--time-scale`) and the charge falls with it; `LB` once the runtime is at or
  below `battery.runtime.low`; at zero the output goes off (`OB LB OFF`, ALARM).
- `fault`: an internal (inverter) fault, as an online UPS reports it: `OL ALARM` with
  `ups.alarm` set; the bypass line stays available (`input.bypass.*`).
- `overload`: `OL OVER ALARM`, load above 100 %.

Two variables are the operator's controls, not the model's: dummy-ups cannot execute
instant commands (it lists `load.off` and ignores it), but it accepts `SET VAR` for any
variable it holds. So a runbook switches the outlet with `outlet.1.switch` = on|off and
transfers to bypass with `input.bypass.switch.on` = on|off (Eaton's name for it); the
model reads them back from upsd and reports `outlet.1.status` and `BYPASS`. The model
never writes them into the file (a re-read would undo the operator's SET), except to
seed them when upsd lacks them, e.g. after the driver was restarted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import TransportError
from orchestrator.transports.ups import NutClient

MODES = ("mains", "outage", "fault", "overload")
CONTROL_DEFAULTS = {"outlet.1.switch": "on", "input.bypass.switch.on": "off"}
NOMINAL_VOLTAGE = 220.0
NOMINAL_FREQUENCY = 50.0
BASE_LOAD_PCT = 35.0
# Recharging takes this many times as long as discharging, as with real lead-acid packs.
RECHARGE_FACTOR = 4.0
_CHECK_INTERVAL_S = 0.2


@dataclass(frozen=True)
class Battery:
    full_runtime_s: float = 600.0
    low_runtime_s: float = 120.0
    time_scale: float = 1.0


class UpsModel:
    """The UPS's state; `step` advances it and returns the variables to publish."""

    def __init__(self, battery: Battery, rng: random.Random | None = None) -> None:
        self.battery = battery
        self.runtime_s = battery.full_runtime_s
        self.rng = rng or random.Random()

    def step(self, mode: str, controls: dict[str, str], dt: float) -> dict[str, str]:
        full = self.battery.full_runtime_s
        model_dt = dt * self.battery.time_scale
        if mode == "outage":
            self.runtime_s = max(0.0, self.runtime_s - model_dt)
        else:
            self.runtime_s = min(full, self.runtime_s + model_dt / RECHARGE_FACTOR)
        depleted = mode == "outage" and self.runtime_s <= 0
        outlet_on = controls.get("outlet.1.switch", "on") == "on" and not depleted
        bypass = controls.get("input.bypass.switch.on", "off") == "on"
        status, alarm = self._status(mode, depleted, bypass)
        mains = mode != "outage"
        input_voltage = NOMINAL_VOLTAGE + self._noise(3.0) if mains else 0.0
        input_frequency = NOMINAL_FREQUENCY + self._noise(0.05) if mains else 0.0
        if depleted:
            output_voltage = 0.0
        elif bypass and mains:  # bypass passes the mains through, unconditioned
            output_voltage = input_voltage
        else:
            output_voltage = NOMINAL_VOLTAGE + self._noise(0.3)
        load = BASE_LOAD_PCT * 3.2 if mode == "overload" else BASE_LOAD_PCT
        charge = 100.0 * self.runtime_s / full
        return {
            "device.mfr": "dr lab",
            "device.model": "Simulated online UPS 3 kVA",
            "ups.mfr": "dr lab",
            "ups.model": "Simulated online UPS 3 kVA",
            "ups.status": " ".join(status),
            # An empty value makes dummy-ups delete the variable: no alarm, no ups.alarm.
            "ups.alarm": alarm,
            "ups.load": f"{load + self._noise(1.0):.0f}" if outlet_on else "0",
            "ups.power.nominal": "3000",
            "ups.realpower.nominal": "2700",
            "battery.charge": f"{charge:.0f}",
            "battery.charge.low": f"{100.0 * self.battery.low_runtime_s / full:.0f}",
            "battery.runtime": f"{self.runtime_s:.0f}",
            "battery.runtime.low": f"{self.battery.low_runtime_s:.0f}",
            "battery.voltage": f"{42.0 + 12.0 * charge / 100 + (0.6 if mains else 0):.1f}",
            "battery.voltage.nominal": "48",
            "input.voltage": f"{input_voltage:.1f}",
            "input.frequency": f"{input_frequency:.2f}",
            "input.voltage.nominal": f"{NOMINAL_VOLTAGE:.0f}",
            "input.frequency.nominal": f"{NOMINAL_FREQUENCY:.0f}",
            "input.bypass.voltage": f"{input_voltage:.1f}",
            "input.bypass.frequency": f"{input_frequency:.2f}",
            "output.voltage": f"{output_voltage:.1f}",
            "output.voltage.nominal": f"{NOMINAL_VOLTAGE:.0f}",
            "output.frequency": f"{NOMINAL_FREQUENCY if not depleted else 0:.1f}",
            "outlet.1.desc": "Protected load (DC rack)",
            "outlet.1.switchable": "yes",
            "outlet.1.status": "on" if outlet_on else "off",
        }

    def _status(self, mode: str, depleted: bool, bypass: bool) -> tuple[list[str], str]:
        alarm = ""
        if mode == "outage":
            if depleted:
                status, alarm = ["OB", "LB", "OFF"], "Battery exhausted: output off"
            else:
                status = ["OB", "DISCHRG"]
                if self.runtime_s <= self.battery.low_runtime_s:
                    status.append("LB")
            if bypass and not alarm:
                alarm = "Bypass unavailable: no input power"
        else:
            status = ["OL", "BYPASS"] if bypass else ["OL"]
            if mode == "fault":
                alarm = "Internal UPS fault: inverter failure; bypass available"
            elif mode == "overload":
                status.append("OVER")
                alarm = "Output overload"
            if self.runtime_s < self.battery.full_runtime_s:
                status.append("CHRG")
        if alarm:
            status.append("ALARM")
        return status, alarm

    def _noise(self, amplitude: float) -> float:
        return self.rng.uniform(-amplitude, amplitude)


def write_dev(path: Path, variables: dict[str, str], previous_stamp: int = 0) -> int:
    """Replace the data file in one step, so the driver never reads half of it.

    Returns the mtime given to the file: dummy-ups re-reads the file only when the whole
    seconds of its mtime differ from the last read, so two rewrites within one second
    would lose the second one. Each rewrite therefore gets a later second than the last.
    """
    lines = ["# Written by lab/ups_model.py about once a second; edits are lost."]
    for name, value in variables.items():
        if name == "ups.status":
            lines.append(f"{name}: {value}")  # one status flag per word, as upsc shows it
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'{name}: "{escaped}"')
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("\n".join(lines) + "\n")
    stamp = max(int(time.time()), previous_stamp + 1)
    os.utime(temporary, (stamp, stamp))
    os.replace(temporary, path)
    return stamp


def read_mode(control: Path, current: str) -> str:
    try:
        mode = json.loads(control.read_text()).get("mode", current)
    except (OSError, ValueError, AttributeError):
        return current  # absent or being rewritten: keep what we had
    return mode if mode in MODES else current


def _refresh_controls(client: NutClient | None, controls: dict[str, str]) -> dict[str, str]:
    """Update `controls` from upsd; return the ones upsd lacks, to seed into the file."""
    if client is None:
        return {}
    try:
        present = client.variables()
    except TransportError:
        return {}  # upsd or driver away for a moment: keep the last known settings
    missing: dict[str, str] = {}
    for name, default in CONTROL_DEFAULTS.items():
        if name in present:
            controls[name] = present[name]
        else:
            controls[name] = missing[name] = default
    return missing


class OutletFeed:
    """Outlet 1 feeds one lab host (`--outlet-feeds HOST`): switching the outlet off cuts
    that host's power exactly as the `host-down` fault does, before the outlet reports
    `off`, so a reader who sees `off` knows the host is dark; switching it on powers the
    host up again (it boots with whatever its disks say: an old primary as a primary)."""

    def __init__(self, lab_root: Path | None, host: str) -> None:
        self.lab_root = lab_root
        self.host = host
        self.powered = True

    def follow(self, client: NutClient | None, controls: dict[str, str]) -> bool:
        """Check the outlet switch in upsd; True when the host's power changed."""
        if client is None:
            return False
        try:
            wanted = client.get("outlet.1.switch") == "on"
        except TransportError:
            return False  # upsd away for a moment: the host keeps its power as it was
        if wanted == self.powered:
            return False
        # Its own process: switching a host's power is the lab's `host-down` fault, and
        # the lab's whole machinery (which starts this model) is not this process's to load.
        feed = [sys.executable, "-m", "lab.power_feed", self.host, "on" if wanted else "off"]
        if self.lab_root is not None:
            feed += ["--lab-root", str(self.lab_root)]
        result = subprocess.run(feed, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            print(f"outlet 1: switching {self.host}'s power failed: {result.stderr}", flush=True)
            return False
        self.powered = wanted
        controls["outlet.1.switch"] = "on" if wanted else "off"
        print(f"outlet 1 {'on' if wanted else 'off'}: {self.host} powered {wanted}", flush=True)
        return True


def run(args: argparse.Namespace) -> int:
    battery = Battery(args.runtime, args.low_runtime, args.time_scale)
    model = UpsModel(battery)
    client = None
    if args.upsd:
        host, _, port = args.upsd.rpartition(":")
        client = NutClient(host, int(port), args.ups, timeout=2)
    controls = dict(CONTROL_DEFAULTS)
    deadline = time.monotonic() + args.lifetime
    mode = read_mode(args.control, "mains")
    last_step = last_write = time.monotonic()
    print(f"ups model writing {args.dev} (mode {mode})", flush=True)
    # A restarted model continues after the last stamp, for the same reason as above.
    stamp = int(args.dev.stat().st_mtime) if args.dev.exists() else 0
    first = True
    feed = OutletFeed(args.lab_root, args.outlet_feeds) if args.outlet_feeds else None
    while time.monotonic() < deadline:
        new_mode = read_mode(args.control, mode)
        now = time.monotonic()
        switched = feed is not None and feed.follow(client, controls)
        if first or switched or new_mode != mode or now - last_write >= args.interval:
            if new_mode != mode:
                print(f"mode {mode} -> {new_mode}", flush=True)
            mode = new_mode
            seed = _refresh_controls(client, controls)
            variables = model.step(mode, controls, now - last_step)
            stamp = write_dev(args.dev, {**variables, **seed}, stamp)
            last_step = last_write = now
            first = False
        time.sleep(_CHECK_INTERVAL_S)
    print("lifetime over; ups model exits", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.ups_model")
    parser.add_argument("--dev", type=Path, required=True, help="dummy-ups data file")
    parser.add_argument("--control", type=Path, required=True, help="JSON mode file")
    parser.add_argument("--lifetime", type=float, default=6 * 3600)
    parser.add_argument("--upsd", help="HOST:PORT of upsd, to read the operator's controls")
    parser.add_argument("--ups", default="lab-ups")
    parser.add_argument("--runtime", type=float, default=600.0, help="full-battery runtime, s")
    parser.add_argument("--low-runtime", type=float, default=120.0, help="LB threshold, s")
    parser.add_argument("--time-scale", type=float, default=1.0, help="model s per real s")
    parser.add_argument("--interval", type=float, default=1.0, help="rewrite period, s")
    parser.add_argument("--outlet-feeds", help="the lab host outlet 1 powers (e.g. dc-a)")
    parser.add_argument("--lab-root", type=Path, help="the lab's state directory")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
