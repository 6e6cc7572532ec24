"""The lab UPS: a real NUT upsd serving a dummy-ups UPS whose state follows a model.

Three processes, all started in the lab's root namespace and kept in the state
directory: the dummy-ups driver (reading `lab-ups.dev`), upsd (on 127.0.0.1 only) and
the model process (`lab.ups_model`), which rewrites `lab-ups.dev` as the
mode (`mains`, `outage`, `fault`, `overload`) set by `set_mode` dictates. Nothing under
/etc is read or written: NUT takes its paths from NUT_CONFPATH, NUT_STATEPATH and
NUT_ALTPIDPATH, and Debian's /sbin/upsd wrapper (which insists on /etc/nut/nut.conf)
is bypassed for /lib/nut/upsd.

As root, the driver and upsd stay root (`-u root`) instead of dropping to the `nut`
account: the state directory may sit below directories that account cannot enter (a
0700 test directory), and upsd.users holds a password that only root should read. Both
listen only on loopback and on a Unix socket inside the state directory.

The C programs are run through symlinks in `STATE/bin`, under `timeout`: the symlink puts
the state directory into their command line (which is how a pid is recognised as ours,
here and by `dr lab down`), and `timeout` bounds their lifetime like every lab process.

Outlet switching and bypass: dummy-ups executes no instant commands (it lists
`load.off`, then answers "unknown"), so the lab's controls are writable variables the
model honours; see `lab.ups_model`. The upsd user may SET and run every
instant command.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lab import processes, ups_model
from lab.errors import LabError
from orchestrator.errors import TransportError
from orchestrator.local_machine import port_in_use, wait_until
from orchestrator.transports.ups import NutClient

DRIVER = Path("/lib/nut/dummy-ups")
UPSD = Path("/lib/nut/upsd")
INSTALL_HINT = "install NUT: apt-get install nut-server nut-client"
LISTEN_ADDRESS = "127.0.0.1"
DEFAULT_LIFETIME_S = 6 * 3600
_PARTS = ("ups-driver", "upsd", "ups-model")
log = logging.getLogger(__name__)
# Linux's sun_path holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
_HEADER = "# Written by dr (lab/ups.py); edits here are lost.\n"


class UpsLab:
    """`start`/`stop` for `dr lab up`/`down`, `set_mode` for faults; state in `state_dir`."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 13493,
        ups_name: str = "lab-ups",
        password_file: Path,
        username: str = "dr",
        battery_runtime_s: float = 600.0,
        low_runtime_s: float = 120.0,
        time_scale: float = 1.0,
        lifetime: float = DEFAULT_LIFETIME_S,
        outlet_feeds: str | None = None,
        lab_root: Path | None = None,
    ) -> None:
        self.state_dir = state_dir.absolute()
        # Outlet 1 really powers this lab host (UPS-outlet fencing); None: a bare UPS.
        self.outlet_feeds = outlet_feeds
        self.lab_root = lab_root
        self.port = port
        self.ups_name = ups_name
        self.password_file = password_file
        self.username = username
        self.battery = ups_model.Battery(battery_runtime_s, low_runtime_s, time_scale)
        self.lifetime = lifetime
        self.dev_file = self.state_dir / f"{ups_name}.dev"
        self.control_file = self.state_dir / "mode.json"
        self.run_dir = self.state_dir / "run"
        self.bin_dir = self.state_dir / "bin"
        self._records = self.state_dir / "processes.json"
        socket_path = self.run_dir / f"dummy-ups-{ups_name}"
        if len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH:
            raise LabError(
                f"the driver socket path {socket_path} is longer than the {_MAX_SOCKET_PATH} "
                "bytes Linux allows; choose a shorter state directory"
            )
        self._socket = socket_path

    @property
    def endpoint(self) -> str:
        """As upsc names it: `lab-ups@127.0.0.1:13493`."""
        return f"{self.ups_name}@{LISTEN_ADDRESS}:{self.port}"

    def client(self, *, with_password: bool = True) -> NutClient:
        password = self._password() if with_password else None
        username = self.username if with_password else None
        return NutClient(LISTEN_ADDRESS, self.port, self.ups_name, username, password)

    # ----- lifecycle ------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Start whatever part is not running and wait until upsc answers; idempotent."""
        for program in (DRIVER, UPSD):
            if not program.exists():
                raise LabError(f"{program} is missing; {INSTALL_HINT}")
        records = self._load()
        running = {name for name, p in records.items() if processes.is_ours(p)}
        if running == set(_PARTS):
            self._wait_ready(records, timeout)
            return
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        self._write_config()
        try:
            if "ups-driver" not in running:
                if not self.control_file.exists():
                    self.set_mode("mains")
                self._write_initial_data()
                # A socket left by a killed driver would look like a ready one.
                self._socket.unlink(missing_ok=True)
                records["ups-driver"] = self._start_driver(timeout)
            if "upsd" not in running:
                if port_in_use(self.port, LISTEN_ADDRESS):
                    raise LabError(
                        f"cannot start upsd: {LISTEN_ADDRESS}:{self.port} is already in use "
                        "by another program; stop it or give the lab UPS another port"
                    )
                records["upsd"] = self._launch("upsd", self._nut("upsd"))
            if "ups-model" not in running:
                records["ups-model"] = self._launch("ups-model", self._model_argv())
            self._save(records)
            self._wait_ready(records, timeout)
        except LabError:
            self._save(records)
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the model, upsd and the driver, also when another process started them."""
        records = self._load()
        for name in reversed(_PARTS):
            process = records.get(name)
            if process is not None:
                processes.stop(process)
        # A lost record must not leave a process behind: our paths are in its command line.
        strays = self._strays()
        if strays:
            processes.terminate(strays)
        self._records.unlink(missing_ok=True)
        self._socket.unlink(missing_ok=True)

    def pids(self) -> dict[str, list[int]]:
        """Every live process of each part (the `timeout` wrapper and the program below)."""
        found: dict[str, list[int]] = {}
        for name, process in self._load().items():
            if processes.is_ours(process):
                found[name] = [process.pid, *processes.descendants(process.pid)]
        return found

    # ----- the model ------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return ups_model.read_mode(self.control_file, "mains")

    def set_mode(self, mode: str) -> None:
        """Switch the model; a NUT client sees it only once the model, the driver's next
        poll and upsd have passed it on, so callers poll for the reading they expect."""
        if mode not in ups_model.MODES:
            raise LabError(f"unknown UPS mode {mode!r}; choose one of {', '.join(ups_model.MODES)}")
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.control_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"mode": mode}) + "\n")
        os.replace(temporary, self.control_file)

    def status(self) -> dict[str, Any]:
        pids = self.pids()
        state = "up" if len(pids) == len(_PARTS) else "stopped" if not pids else "degraded"
        result: dict[str, Any] = {
            "state": state,
            "endpoint": self.endpoint,
            "mode": self.mode,
            "pids": pids,
        }
        if state == "stopped":
            return result
        try:
            reading = self.client(with_password=False).reading()
        except TransportError as err:
            result["error"] = err.message
            return result
        variables = reading.variables
        result |= {
            "ups.status": variables.get("ups.status"),
            "ups.alarm": reading.alarm,
            "battery.charge": reading.charge_pct,
            "battery.runtime": reading.runtime_s,
            "input.voltage": reading.input_voltage,
            "outlet.1.status": variables.get("outlet.1.status"),
        }
        return result

    # ----- internals ------------------------------------------------------------------

    def _password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except OSError as err:
            raise LabError(
                f"cannot read the UPS password from {self.password_file}: {err}"
            ) from None

    def _write_config(self) -> None:
        password = self._password()
        if not password or any(c in password for c in "\n\r"):
            raise LabError(f"{self.password_file} must hold a one-line, non-empty password")
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        files = {
            "nut.conf": "MODE=netserver\n",
            "ups.conf": (
                f"[{self.ups_name}]\n"
                "  driver = dummy-ups\n"
                f'  port = "{self.dev_file}"\n'
                # dummy-once re-reads the file whenever its mtime changes; poll each second.
                "  mode = dummy-once\n"
                "  pollinterval = 1\n"
                '  desc = "dr drill lab UPS"\n'
            ),
            "upsd.conf": f"LISTEN {LISTEN_ADDRESS} {self.port}\nSTATEPATH {self.run_dir}\n",
            "upsd.users": (
                f'[{self.username}]\n  password = "{quoted}"\n  actions = SET\n  instcmds = ALL\n'
            ),
        }
        for name, text in files.items():
            path = self.state_dir / name
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(_HEADER + text)
        self.bin_dir.mkdir(mode=0o700, exist_ok=True)
        for link, target in (("dummy-ups", DRIVER), ("upsd", UPSD)):
            path = self.bin_dir / link
            if not path.is_symlink() or path.readlink() != target:
                path.unlink(missing_ok=True)
                path.symlink_to(target)

    def _write_initial_data(self) -> None:
        # The controls go in only here: later rewrites leave them to the operator's SET.
        model = ups_model.UpsModel(self.battery)
        variables = model.step(self.mode, dict(ups_model.CONTROL_DEFAULTS), 0.0)
        ups_model.write_dev(self.dev_file, {**variables, **ups_model.CONTROL_DEFAULTS})

    def _nut(self, program: str) -> list[str]:
        # Only a root-started NUT program switches users; keep it root (see the docstring).
        user = ["-u", "root"] if os.geteuid() == 0 else []
        argv = [str(self.bin_dir / program), "-F", *user]
        if program == "dummy-ups":
            argv[1:1] = ["-a", self.ups_name]
        return ["timeout", "--kill-after=5", f"{self.lifetime:.0f}s", *argv]

    def _model_argv(self) -> list[str]:
        return [
            sys.executable,
            *("-m", "lab.ups_model"),
            *("--dev", str(self.dev_file), "--control", str(self.control_file)),
            *("--lifetime", f"{self.lifetime:g}"),
            *("--upsd", f"{LISTEN_ADDRESS}:{self.port}", "--ups", self.ups_name),
            *("--runtime", f"{self.battery.full_runtime_s:g}"),
            *("--low-runtime", f"{self.battery.low_runtime_s:g}"),
            *("--time-scale", f"{self.battery.time_scale:g}"),
            *(("--outlet-feeds", self.outlet_feeds) if self.outlet_feeds else ()),
            *(("--lab-root", str(self.lab_root)) if self.lab_root else ()),
        ]

    def _launch(self, name: str, argv: list[str]) -> processes.LabProcess:
        env = {
            **os.environ,
            "NUT_CONFPATH": str(self.state_dir),
            "NUT_STATEPATH": str(self.run_dir),
            "NUT_ALTPIDPATH": str(self.run_dir),
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        return processes.start(
            name, argv, marker=str(self.state_dir), log=self.state_dir / f"{name}.log", env=env
        )

    def _start_driver(self, timeout: float) -> processes.LabProcess:
        """Launch dummy-ups and wait for its socket. It normally opens it well within the
        wait, but has been seen (rarely, on a loaded machine) to stay alive without ever opening
        it, while a second launch comes up: so one retry, with half the wait each. A
        driver that fails twice is stopped by `start`'s clean-up (its paths mark it)."""
        driver = self._launch("ups-driver", self._nut("dummy-ups"))
        try:
            self._wait_socket(driver, timeout / 2)
            return driver
        except LabError:
            processes.stop(driver)
            self._socket.unlink(missing_ok=True)
            log.warning("dummy-ups for %s opened no socket; starting it again", self.ups_name)
        driver = self._launch("ups-driver", self._nut("dummy-ups"))
        self._wait_socket(driver, timeout / 2)
        return driver

    def _wait_socket(self, driver: processes.LabProcess, timeout: float) -> None:
        # upsd connects to the driver's socket at start and only retries every few seconds.
        if (
            not wait_until(
                lambda: self._socket.exists() or not processes.is_ours(driver), timeout=timeout
            )
            or not self._socket.exists()
        ):
            raise LabError(
                f"dummy-ups for {self.ups_name} did not open {self._socket} within "
                f"{timeout:g} s:\n{self._tail('ups-driver')}"
            )

    def _wait_ready(self, records: dict[str, processes.LabProcess], timeout: float) -> None:
        argv = ["upsc", self.endpoint, "ups.status"]

        def answers() -> bool:
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            except FileNotFoundError:
                raise LabError(f"upsc is missing; {INSTALL_HINT}") from None
            except subprocess.TimeoutExpired:
                return False
            # dummy-ups reports WAIT until its first poll has read the data file.
            return done.returncode == 0 and done.stdout.strip() not in ("", "WAIT")

        def settled() -> bool:
            return answers() or not all(processes.is_ours(p) for p in records.values())

        wait_until(settled, timeout=timeout, interval=0.2)
        for name, process in records.items():
            if not processes.is_ours(process):
                raise LabError(f"the lab UPS's {name} exited while starting:\n{self._tail(name)}")
        if not answers():
            raise LabError(
                f"upsd does not answer for {self.endpoint} after {timeout:g} s:\n"
                f"{self._tail('upsd')}\n{self._tail('ups-driver')}"
            )

    def _tail(self, name: str, lines: int = 10) -> str:
        log = self.state_dir / f"{name}.log"
        try:
            text = log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"(no {log})"
        return f"last lines of {log}:\n" + "\n".join(text)

    def _strays(self) -> list[int]:
        markers = (str(self.bin_dir) + "/", str(self.dev_file))
        return [
            pid
            for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
            if pid != os.getpid()
            and any(marker in processes.command_line(pid) for marker in markers)
        ]

    def _load(self) -> dict[str, processes.LabProcess]:
        try:
            raw = json.loads(self._records.read_text())
            return {name: processes.LabProcess(**fields) for name, fields in raw.items()}
        except (OSError, ValueError, TypeError):
            return {}

    def _save(self, records: dict[str, processes.LabProcess]) -> None:
        text = json.dumps({name: p.to_dict() for name, p in records.items()}, indent=2)
        self._records.write_text(text + "\n")
