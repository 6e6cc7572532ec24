"""The lab's backup generator: a Modbus TCP controller (pymodbus) with simple physics.

`python -m lab.genset --port 15020 --warmup 20 --nominal-voltage 230
--nominal-frequency 50 --control FILE --lifetime S` serves, on 127.0.0.1 only, any unit id:

    Coils (read/write)        0 start command: write 1 start, 0 stop (stop also resets
                                a latched fault)
                              1 mains breaker closed (starts closed)
                              2 generator breaker closed (starts open)
    Discrete inputs           0 running   1 output stable   2 fault
    Input registers           0 output voltage x10 (V)    1 output frequency x100 (Hz)
                              2 seconds since start       3 fault code (0 none, 1 fail
                                to start)                 4 last refusal (see below)
                              5 times the generator breaker was closed before the
                                output was stable (a drill finding)
    Holding registers         0 stable window s (= warmup; read/write, 1-3600)
                              1 nominal voltage x10, 2 nominal frequency x100 (read-only)

Interlocks follow the branch procedure: disconnect the mains before starting the
generator, and never connect mains and generator together. A refused write answers with
Modbus exception 03 (ILLEGAL DATA VALUE), leaves the coil as it was and puts the reason
in input register 4: 1 start while the mains breaker is closed, 2 generator breaker
closed while the mains breaker is closed, 3 generator breaker closed while the generator
is not running, 4 mains breaker closed while the generator breaker is closed. Closing
the generator breaker before the output is stable is allowed, as on a real set, and
only counted (register 5): waiting for a stable output is the runbook's job.

Physics: after a start the engine cranks (up to 1 s), then voltage and frequency ramp up
and wander until `warmup` seconds after the start; then they settle within +-0.5 % and
+-0.05 Hz of nominal and "stable" is set. Stopping drops the output and trips the
generator breaker open. The `no-start` fault (control file `{"fault": "no-start"}`, from
`GensetLab.set_fault`) accepts the start command but the engine never runs; after 3 s of
cranking the fault flag and fault code 1 are set. Healing clears the fault and its latch.

The physics runs as an asyncio task in the server's own event loop, so the request
handler and the physics never touch the state at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from lab import processes
from lab.errors import LabError
from orchestrator.errors import TransportError
from orchestrator.local_machine import port_in_use, wait_until
from orchestrator.transports import genset as regs
from orchestrator.transports.genset import GensetClient

LISTEN_ADDRESS = "127.0.0.1"
DEFAULT_LIFETIME_S = 6 * 3600
FAULTS = ("no-start",)
FAIL_TO_START_S = 3.0
_TICK_S = 0.1
_COIL_CODES = (1, 5, 15)
_WRITE_REGISTER_CODES = (6, 16, 22, 23)


@dataclass
class GensetModel:
    nominal_voltage: float
    nominal_frequency: float
    warmup_s: float
    fault_injected: str | None = None
    start_commanded: bool = False
    mains_closed: bool = True
    generator_closed: bool = False
    started_at: float | None = None
    engine_started: bool = False
    running: bool = False
    stable: bool = False
    voltage: float = 0.0
    frequency: float = 0.0
    fault_code: int = 0
    last_refusal: int = regs.REFUSAL_NONE
    premature_loadings: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def elapsed(self, now: float) -> float:
        return 0.0 if self.started_at is None else now - self.started_at

    def command(self, coil: int, value: bool, now: float) -> int:
        """Apply one coil write; the refusal code, or 0 when accepted."""
        if coil == regs.COIL_START and value:
            if self.mains_closed:
                return regs.REFUSAL_START_MAINS_CLOSED
            if not self.start_commanded:
                self.start_commanded, self.started_at, self.engine_started = True, now, False
        elif coil == regs.COIL_START:
            self.start_commanded, self.started_at, self.fault_code = False, None, 0
            self.tick(now)
        elif coil == regs.COIL_MAINS_BREAKER:
            if value and self.generator_closed:
                return regs.REFUSAL_MAINS_BREAKER_GEN_CLOSED
            self.mains_closed = value
        elif value:  # generator breaker
            if self.mains_closed:
                return regs.REFUSAL_GEN_BREAKER_MAINS_CLOSED
            if not self.running:
                return regs.REFUSAL_GEN_BREAKER_NOT_RUNNING
            if not self.generator_closed and not self.stable:
                self.premature_loadings += 1
            self.generator_closed = True
        else:
            self.generator_closed = False
        return regs.REFUSAL_NONE

    def tick(self, now: float) -> None:
        t = self.elapsed(now)
        crank_s = min(1.0, self.warmup_s / 4)
        if self.started_at is not None and not self.engine_started:
            if self.fault_injected == "no-start":
                if t >= FAIL_TO_START_S:
                    self.fault_code = 1
            elif t >= crank_s:
                self.engine_started = True
        self.running = self.engine_started and self.started_at is not None
        if not self.running:
            self.engine_started = self.stable = self.generator_closed = False
            self.voltage = self.frequency = 0.0
            return
        vn, fn = self.nominal_voltage, self.nominal_frequency
        self.stable = t >= self.warmup_s
        if self.stable:
            self.voltage = vn * (1 + self.rng.uniform(-0.005, 0.005))
            self.frequency = fn + self.rng.uniform(-0.05, 0.05)
            return
        # Ramp from 60 % voltage / 80 % frequency, with a wobble that dies out at warmup.
        p = min(1.0, max(0.0, (t - crank_s) / max(self.warmup_s - crank_s, 0.1)))
        wobble = 1 - p
        self.voltage = vn * (0.6 + 0.4 * p + 0.08 * wobble * math.sin(2 * math.pi * t / 1.3))
        self.frequency = fn * (0.8 + 0.2 * p) + 1.5 * wobble * math.sin(2 * math.pi * t / 1.7)
        self.voltage += self.rng.uniform(-0.01, 0.01) * vn
        self.frequency += self.rng.uniform(-0.1, 0.1)

    def registers(self, kind: str, now: float) -> list[int]:
        """The current content of one register block, as the Modbus server stores it."""
        if kind == "c":
            return [_pack([self.start_commanded, self.mains_closed, self.generator_closed])]
        if kind == "d":
            return [_pack([self.running, self.stable, self.fault_code != 0])]
        if kind == "h":
            return [
                round(self.warmup_s),
                round(self.nominal_voltage * 10),
                round(self.nominal_frequency * 100),
            ]
        return [
            _u16(self.voltage * 10),
            _u16(self.frequency * 100),
            _u16(self.elapsed(now)),
            self.fault_code,
            self.last_refusal,
            _u16(self.premature_loadings),
        ]


def _pack(bits: list[bool]) -> int:
    """Bit 0 first, as pymodbus keeps 16 coils or inputs in one register."""
    return sum(1 << i for i, bit in enumerate(bits) if bit)


def _u16(value: float) -> int:
    return max(0, min(0xFFFF, round(value)))


async def _on_request(
    model: GensetModel,
    function_code: int,
    _start_address: int,
    address: int,
    _count: int,
    current: list[int],
    values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    # pymodbus calls this before it reads or writes a block: apply writes to the model
    # (or refuse them), then refresh the block from the model.
    now = time.monotonic()
    model.tick(now)
    if values and function_code in _COIL_CODES:
        if address + len(values) > 3:
            return ExcCodes.ILLEGAL_ADDRESS
        # All or nothing: try a multi-coil write on a copy first.
        trial = copy.copy(model)
        for offset, value in enumerate(values):
            refusal = trial.command(address + offset, bool(value), now)
            if refusal:
                model.last_refusal = refusal
                return ExcCodes.ILLEGAL_VALUE
        for offset, value in enumerate(values):
            model.command(address + offset, bool(value), now)
    elif values and function_code in _WRITE_REGISTER_CODES:
        if address != regs.HR_STABLE_WINDOW_S or not 1 <= int(values[0]) <= 3600:
            return ExcCodes.ILLEGAL_VALUE
        model.warmup_s = float(values[0])
    kind = {1: "c", 5: "c", 15: "c", 2: "d", 4: "i"}.get(function_code, "h")
    fresh = model.registers(kind, now)
    current[: len(fresh)] = fresh
    return None


def _device(model: GensetModel) -> SimDevice:
    def bits() -> list[SimData]:
        return [SimData(0, values=[False] * 16, datatype=DataType.BITS)]

    hold = [
        SimData(0, values=[1], datatype=DataType.REGISTERS),
        SimData(1, values=[0, 0], datatype=DataType.REGISTERS, readonly=True),
    ]
    inputs = [SimData(0, values=[0] * regs.INPUT_REGISTER_COUNT, datatype=DataType.REGISTERS)]
    # id 0: answer every unit id, as a controller alone on its TCP port does.
    return SimDevice(0, simdata=(bits(), bits(), hold, inputs), action=partial(_on_request, model))


async def _serve(args: argparse.Namespace) -> None:
    model = GensetModel(args.nominal_voltage, args.nominal_frequency, args.warmup)
    server = ModbusTcpServer(_device(model), address=(LISTEN_ADDRESS, args.port))
    await server.serve_forever(background=True)
    print(f"generator controller listening on {LISTEN_ADDRESS}:{args.port}", flush=True)
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        fault = _read_fault(args.control, model.fault_injected)
        if fault != model.fault_injected:
            print(f"fault {model.fault_injected} -> {fault}", flush=True)
            model.fault_injected = fault
            if fault is None:  # healing removes the cause and the latched alarm
                model.fault_code = 0
        model.tick(time.monotonic())
        await asyncio.sleep(_TICK_S)
    print("lifetime over; generator controller exits", flush=True)
    await server.shutdown()


def _read_fault(control: Path, current: str | None = None) -> str | None:
    try:
        fault = json.loads(control.read_text()).get("fault")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError):
        return current  # being replaced right now: keep what we had
    return fault if fault in FAULTS else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.genset")
    parser.add_argument("--port", type=int, default=15020)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--nominal-voltage", type=float, default=230.0)
    parser.add_argument("--nominal-frequency", type=float, default=50.0)
    parser.add_argument("--control", type=Path, required=True)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


class _NoAnswer(LabError):
    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


def _process_state(pid: int) -> str:
    """pid, run state and kernel wait channel: what a stuck start was doing."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip() or "-"
    except OSError:
        return f"{pid} gone"
    return f"{pid} state {state}, waiting in {wchan}"


class GensetLab:
    """`start`/`stop` for `dr lab up`/`down`, `set_fault` for `generator-no-start`."""

    def __init__(
        self,
        state_dir: Path,
        port: int = 15020,
        warmup: float = 20.0,
        *,
        nominal_voltage: float = 230.0,
        nominal_frequency: float = 50.0,
        lifetime: float = DEFAULT_LIFETIME_S,
    ) -> None:
        self.state_dir = state_dir.absolute()
        self.port = port
        self.warmup = warmup
        self.nominal = (nominal_voltage, nominal_frequency)
        self.lifetime = lifetime
        self.control_file = self.state_dir / "control.json"
        self.log_file = self.state_dir / "genset.log"
        self._record = self.state_dir / "genset.json"

    def client(self) -> GensetClient:
        return GensetClient(LISTEN_ADDRESS, self.port)

    def _process(self) -> processes.LabProcess | None:
        return processes.load_record(self._record)

    @property
    def pid(self) -> int | None:
        process = self._process()
        # A recycled pid runs some other command line: it is not ours.
        return process.pid if process is not None and processes.is_ours(process) else None

    def start(self, timeout: float = 60) -> None:
        """Start the controller and wait until it answers Modbus; idempotent.

        Twice in CI runs a controller started but neither answered nor printed a line
        before the wait ended (15 s, then 60 s), while alone it answers in a fraction of
        a second: a stuck start is stopped, described in the log, and tried once more.
        """
        if self.pid is not None:
            return
        try:
            self._start_once(timeout)
        except _NoAnswer as first:
            with self.log_file.open("a", encoding="utf-8") as log:
                log.write(f"[lab] start attempt 1 stuck ({first.state}); starting again\n")
            self._start_once(timeout)

    def _start_once(self, timeout: float) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if port_in_use(self.port, LISTEN_ADDRESS):
            raise LabError(
                f"cannot start the generator controller: {LISTEN_ADDRESS}:{self.port} is "
                "already in use by another program"
            )
        argv = [
            *(sys.executable, "-m", __name__, "--port", str(self.port)),
            *("--warmup", f"{self.warmup:g}", "--control", str(self.control_file)),
            *("--nominal-voltage", f"{self.nominal[0]:g}"),
            *("--nominal-frequency", f"{self.nominal[1]:g}"),
            *("--lifetime", f"{self.lifetime:g}"),
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        process = processes.start(
            "genset", argv, marker=str(self.control_file), log=self.log_file, env=env
        )
        processes.save_record(self._record, process)
        if not wait_until(self._answers, timeout=timeout) or self.pid is None:
            state = _process_state(process.pid)
            tail = self.log_file.read_text(errors="replace").splitlines()[-15:]
            self.stop()
            raise _NoAnswer(
                f"the generator controller did not answer on {LISTEN_ADDRESS}:{self.port} "
                f"within {timeout:g} s (process {state}); see {self.log_file}:\n" + "\n".join(tail),
                state,
            )

    def stop(self) -> None:
        """Stop the controller, also when another process started it; idempotent."""
        processes.stop_recorded(self._record)

    def set_fault(self, fault: str | None) -> None:
        """Inject `no-start`, or heal with None; the controller applies it within 0.1 s."""
        if fault is not None and fault not in FAULTS:
            raise LabError(f"unknown generator fault {fault!r}; known: {', '.join(FAULTS)}")
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.control_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"fault": fault}) + "\n")
        temporary.replace(self.control_file)

    @property
    def fault(self) -> str | None:
        return _read_fault(self.control_file)

    def status(self) -> dict[str, Any]:
        pid = self.pid
        result: dict[str, Any] = {
            "state": "up" if pid else "stopped",
            "endpoint": f"{LISTEN_ADDRESS}:{self.port}",
            "pid": pid,
            "injected_fault": self.fault,
        }
        if pid is not None:
            try:
                with self.client() as client:
                    result |= asdict(client.status())
            except TransportError as err:
                result["error"] = err.message
        return result

    def _answers(self) -> bool:
        if self.pid is None:
            return True  # exited: stop waiting, start() reports it
        # A plain connect first: pymodbus logs every refused connection on stderr.
        if not port_in_use(self.port, LISTEN_ADDRESS):
            return False
        try:
            with self.client() as client:
                client.status()
        except TransportError:
            return False
        return True


if __name__ == "__main__":
    sys.exit(main())
