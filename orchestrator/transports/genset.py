"""A Modbus TCP client for the generator (genset) controller the runbooks drive.

The register map is the controller's protocol and lives here; the lab's simulated
controller (`lab.genset`) serves the same map, documented in
docs/lab-power.md. A Modbus exception carries no reason, so when the controller
refuses a command we read its "last refusal" register and say why, in the words of
the branch procedure (disconnect the mains before starting the generator; never
connect mains and generator together).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from orchestrator.errors import TransportError

# Coils (read/write).
COIL_START = 0  # 1 start, 0 stop (also resets a latched fault)
COIL_MAINS_BREAKER = 1  # 1 closed
COIL_GENERATOR_BREAKER = 2  # 1 closed
# Discrete inputs (read-only).
DI_RUNNING = 0
DI_STABLE = 1
DI_FAULT = 2
# Input registers (read-only).
IR_VOLTAGE_X10 = 0
IR_FREQUENCY_X100 = 1
IR_SECONDS_SINCE_START = 2
IR_FAULT_CODE = 3
IR_LAST_REFUSAL = 4
IR_PREMATURE_LOADINGS = 5
INPUT_REGISTER_COUNT = 6
# Holding registers.
HR_STABLE_WINDOW_S = 0  # read/write, 1..3600
HR_NOMINAL_VOLTAGE_X10 = 1  # read-only
HR_NOMINAL_FREQUENCY_X100 = 2  # read-only
HOLDING_REGISTER_COUNT = 3

FAULT_CODES = {0: "none", 1: "fail to start"}
# Why the controller refused the last command (input register 4).
REFUSAL_NONE = 0
REFUSAL_START_MAINS_CLOSED = 1
REFUSAL_GEN_BREAKER_MAINS_CLOSED = 2
REFUSAL_GEN_BREAKER_NOT_RUNNING = 3
REFUSAL_MAINS_BREAKER_GEN_CLOSED = 4
REFUSALS = {
    REFUSAL_START_MAINS_CLOSED: "the mains breaker is closed; disconnect the mains input "
    "(open the mains breaker) before starting the generator",
    REFUSAL_GEN_BREAKER_MAINS_CLOSED: "the mains breaker is closed; mains and generator "
    "must never be connected together, open the mains breaker first",
    REFUSAL_GEN_BREAKER_NOT_RUNNING: "the generator is not running",
    REFUSAL_MAINS_BREAKER_GEN_CLOSED: "the generator breaker is closed; open it first",
}


@dataclass(frozen=True)
class GensetStatus:
    running: bool
    stable: bool
    fault: bool
    voltage: float
    frequency: float
    seconds_since_start: int
    mains_breaker_closed: bool
    generator_breaker_closed: bool
    start_commanded: bool
    fault_code: int
    stable_window_s: int
    premature_loadings: int  # generator breaker closed before the output was stable

    @property
    def fault_text(self) -> str:
        return FAULT_CODES.get(self.fault_code, f"code {self.fault_code}")


class GensetClient:
    """One controller at host:port; connects on first use, `close()` (or `with`) ends it."""

    def __init__(self, host: str, port: int, unit_id: int = 1, timeout: float = 3) -> None:
        self.host = host
        self.port = port
        self.unit_id = unit_id
        # One retry: a runbook step retries on its own terms; a hung controller must not
        # hold it for retries x timeout.
        self._client = ModbusTcpClient(host, port=port, timeout=timeout, retries=1)

    def __enter__(self) -> GensetClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @property
    def where(self) -> str:
        return f"the generator controller at {self.host}:{self.port} (unit {self.unit_id})"

    def status(self) -> GensetStatus:
        coils = self._read("read its coils", self._client.read_coils, 0, 3)
        inputs = self._read("read its status inputs", self._client.read_discrete_inputs, 0, 3)
        registers = self._read(
            "read its measurements", self._client.read_input_registers, 0, INPUT_REGISTER_COUNT
        )
        holding = self._read(
            "read its settings", self._client.read_holding_registers, 0, HOLDING_REGISTER_COUNT
        )
        return GensetStatus(
            running=bool(inputs[DI_RUNNING]),
            stable=bool(inputs[DI_STABLE]),
            fault=bool(inputs[DI_FAULT]),
            voltage=registers[IR_VOLTAGE_X10] / 10,
            frequency=registers[IR_FREQUENCY_X100] / 100,
            seconds_since_start=registers[IR_SECONDS_SINCE_START],
            mains_breaker_closed=bool(coils[COIL_MAINS_BREAKER]),
            generator_breaker_closed=bool(coils[COIL_GENERATOR_BREAKER]),
            start_commanded=bool(coils[COIL_START]),
            fault_code=registers[IR_FAULT_CODE],
            stable_window_s=holding[HR_STABLE_WINDOW_S],
            premature_loadings=registers[IR_PREMATURE_LOADINGS],
        )

    def start(self) -> None:
        self._write_coil(COIL_START, True, "start the generator")

    def stop(self) -> None:
        self._write_coil(COIL_START, False, "stop the generator")

    def open_mains_breaker(self) -> None:
        self._write_coil(COIL_MAINS_BREAKER, False, "open the mains breaker")

    def close_mains_breaker(self) -> None:
        self._write_coil(COIL_MAINS_BREAKER, True, "close the mains breaker")

    def open_generator_breaker(self) -> None:
        self._write_coil(COIL_GENERATOR_BREAKER, False, "open the generator breaker")

    def close_generator_breaker(self) -> None:
        self._write_coil(COIL_GENERATOR_BREAKER, True, "close the generator breaker")

    def set_stable_window(self, seconds: int) -> None:
        result = self._call(
            "set the stable window",
            self._client.write_register,
            HR_STABLE_WINDOW_S,
            seconds,
            device_id=self.unit_id,
        )
        if result.isError():
            raise TransportError(
                f"{self.where} refused a stable window of {seconds} s (allowed: 1-3600 s)"
            )

    # ----- internals ------------------------------------------------------------------

    def _write_coil(self, address: int, value: bool, what: str) -> None:
        result = self._call(what, self._client.write_coil, address, value, device_id=self.unit_id)
        if not result.isError():
            return
        code = getattr(result, "exception_code", None)
        try:
            refusal = self._read(
                "read why it refused", self._client.read_input_registers, IR_LAST_REFUSAL, 1
            )[0]
        except TransportError:
            refusal = REFUSAL_NONE
        reason = REFUSALS.get(refusal, f"Modbus exception code {code}")
        raise TransportError(f"{self.where} refused to {what}: {reason}")

    def _read(self, what: str, method: Callable[..., Any], address: int, count: int) -> list[Any]:
        result = self._call(what, method, address, count=count, device_id=self.unit_id)
        if result.isError():
            raise TransportError(f"{self.where} refused to {what}: {result}")
        # Coil and input reads answer in bits (padded to whole bytes), the others in registers.
        bits = method in (self._client.read_coils, self._client.read_discrete_inputs)
        return list((result.bits if bits else result.registers)[:count])

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._client.connected and not self._client.connect():
            raise TransportError(
                f"cannot reach {self.where} to {what}: connection failed; is the controller "
                "powered and on the network?"
            )
        try:
            return method(*args, **kwargs)
        except ModbusException as err:
            self._client.close()  # the next call starts from a fresh connection
            raise TransportError(
                f"{self.where} did not answer when asked to {what}: {err}"
            ) from None
