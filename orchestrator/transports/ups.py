"""A client for NUT's network protocol (upsd, TCP port 3493; RFC 9271).

Each call opens its own short connection, logs in when it must change something, and
says LOGOUT: runbooks ask a UPS a few questions a minute, and a fresh connection per
question never leaves a half-read reply behind for the next one.

upsd accepts any USERNAME and PASSWORD and only checks them when a SET or INSTCMD
arrives, so a wrong password shows up as "access denied" on the first change, never at
login. A SET or INSTCMD that upsd accepts has only been handed to the driver; with
TRACKING (NUT >= 2.8.0) we wait for the driver's own verdict, because a driver may list
a command it does not implement (dummy-ups lists `load.off` and then ignores it).

The password arrives already resolved and is never logged or shown in a repr.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field

from orchestrator.errors import TransportError

# What each ERR code means to an operator (RFC 9271, section "Error responses").
_ERRORS = {
    "ACCESS-DENIED": "access denied: wrong username or password, or the user lacks "
    "this permission in upsd.users",
    "UNKNOWN-UPS": "upsd does not know this UPS name",
    "VAR-NOT-SUPPORTED": "the UPS has no such variable",
    "CMD-NOT-SUPPORTED": "the UPS does not support this instant command",
    "READONLY": "the variable is read-only",
    "INVALID-ARGUMENT": "upsd rejected the argument",
    "INVALID-VALUE": "upsd rejected the value",
    "TOO-LONG": "the value is too long for this variable",
    "INSTCMD-FAILED": "upsd could not hand the command to the driver",
    "SET-FAILED": "upsd could not hand the change to the driver",
    "DATA-STALE": "the driver's data is stale (it lost contact with the UPS)",
    "DRIVER-NOT-CONNECTED": "upsd is not connected to the UPS driver",
    "USERNAME-REQUIRED": "upsd wants a username first",
    "PASSWORD-REQUIRED": "upsd wants a password first",
    "UNKNOWN": "the driver reported an unknown error; it may not implement this",
    "FAILED": "the driver reported that it failed",
}


class NutError(TransportError):
    """upsd answered ERR; `code` is the NUT error code (e.g. VAR-NOT-SUPPORTED)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class UpsReading:
    """One consistent snapshot of a UPS, in the units NUT uses."""

    status: frozenset[str]
    alarm: str | None
    charge_pct: float | None
    runtime_s: float | None
    input_voltage: float | None
    input_frequency: float | None
    output_voltage: float | None
    load_pct: float | None
    variables: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def on_line(self) -> bool:
        return "OL" in self.status

    @property
    def on_battery(self) -> bool:
        return "OB" in self.status

    @property
    def low_battery(self) -> bool:
        return "LB" in self.status

    @property
    def on_bypass(self) -> bool:
        return "BYPASS" in self.status

    @property
    def in_alarm(self) -> bool:
        return "ALARM" in self.status or bool(self.alarm)

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> UpsReading:
        def number(name: str) -> float | None:
            try:
                return float(variables[name])
            except (KeyError, ValueError):
                return None

        return cls(
            status=frozenset(variables.get("ups.status", "").split()),
            alarm=variables.get("ups.alarm") or None,
            charge_pct=number("battery.charge"),
            runtime_s=number("battery.runtime"),
            input_voltage=number("input.voltage"),
            input_frequency=number("input.frequency"),
            output_voltage=number("output.voltage"),
            load_pct=number("ups.load"),
            variables=dict(variables),
        )


class NutClient:
    """Reads and drives one UPS through upsd."""

    def __init__(
        self,
        host: str,
        port: int,
        ups: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5,
        confirm_timeout: float = 10,
    ) -> None:
        self.host = host
        self.port = port
        self.ups = ups
        self.username = username
        self._password = password
        self.timeout = timeout
        # dummy-ups answers a tracked change only between its 1 s polls: allow a few.
        self.confirm_timeout = confirm_timeout

    def __repr__(self) -> str:
        return f"NutClient({self.ups}@{self.host}:{self.port}, user={self.username!r})"

    @property
    def where(self) -> str:
        return f"UPS {self.ups!r} at upsd {self.host}:{self.port}"

    # ----- reading ----------------------------------------------------------------------

    def variables(self) -> dict[str, str]:
        """Every variable the UPS reports (LIST VAR)."""
        with _Session(self) as session:
            rows = session.list(f"VAR {_quote(self.ups)}", "reading the variables")
        return {row[2]: row[3] for row in rows if len(row) >= 4 and row[0] == "VAR"}

    def get(self, name: str) -> str:
        """One variable's value (GET VAR); NutError with code VAR-NOT-SUPPORTED if absent."""
        with _Session(self) as session:
            reply = session.command(f"GET VAR {_quote(self.ups)} {_quote(name)}", f"reading {name}")
        words = _split(reply)
        if len(words) < 4 or words[0] != "VAR":
            raise TransportError(f"{self.where} sent an unexpected reply to GET VAR: {reply!r}")
        return words[3]

    def commands(self) -> list[str]:
        """The instant commands the driver lists (it may not implement them all)."""
        with _Session(self) as session:
            rows = session.list(f"CMD {_quote(self.ups)}", "listing instant commands")
        return [row[2] for row in rows if len(row) >= 3 and row[0] == "CMD"]

    def reading(self) -> UpsReading:
        return UpsReading.from_variables(self.variables())

    # ----- changing -----------------------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        """SET VAR, and wait until the driver confirms it (where upsd can track it)."""
        what = f"setting {name} to {value!r}"
        with _Session(self, login=True, action=what) as session:
            line = f"SET VAR {_quote(self.ups)} {_quote(name)} {_quote(value)}"
            session.tracked(line, what)

    def instcmd(self, name: str, param: str | None = None) -> None:
        """INSTCMD, and wait until the driver confirms it carried it out."""
        what = f"instant command {name}"
        with _Session(self, login=True, action=what) as session:
            extra = f" {_quote(param)}" if param is not None else ""
            session.tracked(f"INSTCMD {_quote(self.ups)} {_quote(name)}{extra}", what)


class _Session:
    """One TCP conversation with upsd; always ends with LOGOUT and a closed socket."""

    def __init__(self, client: NutClient, *, login: bool = False, action: str = "") -> None:
        self.client = client
        self.login = login
        self.action = action
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> _Session:
        c = self.client
        if self.login and (c.username is None or c._password is None):
            raise TransportError(
                f"{c.where}: {self.action} needs a upsd username and password; none were given"
            )
        try:
            self._sock = socket.create_connection((c.host, c.port), timeout=c.timeout)
        except OSError as err:
            raise TransportError(
                f"cannot reach upsd at {c.host}:{c.port} (UPS {c.ups!r}): {err}; "
                "is upsd running and listening there?"
            ) from None
        if self.login:
            assert c.username is not None and c._password is not None
            self.command(f"USERNAME {_quote(c.username)}", "logging in")
            self.command(f"PASSWORD {_quote(c._password)}", "logging in")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._sock is None:
            return
        # The server may already have closed; the socket goes either way.
        with contextlib.suppress(OSError):
            self._sock.sendall(b"LOGOUT\n")
        self._sock.close()
        self._sock = None

    def command(self, line: str, what: str) -> str:
        self._send(line)
        reply = self._read_line(what)
        if reply.startswith("ERR"):
            raise self._error(reply, what)
        return reply

    def list(self, query: str, what: str) -> list[list[str]]:
        self._send(f"LIST {query}")
        first = self._read_line(what)
        if first.startswith("ERR"):
            raise self._error(first, what)
        rows: list[list[str]] = []
        while True:
            line = self._read_line(what)
            if line.startswith("END LIST"):
                return rows
            rows.append(_split(line))

    def tracked(self, line: str, what: str) -> None:
        # Old upsd (< 2.8.0) does not know TRACKING: then "OK" is all we can learn.
        try:
            self.command("SET TRACKING ON", what)
        except NutError:
            self.command(line, what)
            return
        words = self.command(line, what).split()
        if len(words) < 3 or words[1] != "TRACKING":
            return
        deadline = time.monotonic() + self.client.confirm_timeout
        while True:
            state = self._query(f"GET TRACKING {words[2]}", what)
            if state == "SUCCESS":
                return
            if state != "PENDING":
                raise self._error(state, what, by_driver=True)
            if time.monotonic() > deadline:
                raise TransportError(
                    f"{self.client.where}: the driver did not confirm {what} within "
                    f"{self.client.confirm_timeout:g} s; it may or may not have happened"
                )
            time.sleep(0.1)

    def _query(self, line: str, what: str) -> str:
        self._send(line)
        return self._read_line(what)

    def _error(self, reply: str, what: str, *, by_driver: bool = False) -> NutError:
        words = reply.split()
        code = words[1] if len(words) > 1 else "?"
        meaning = _ERRORS.get(code, "upsd gave no further reason")
        who = "the UPS driver did not carry out" if by_driver else "upsd refused"
        user = f" as user {self.client.username!r}" if self.login else ""
        return NutError(
            f"{self.client.where}: {who} {what}{user}: {reply.strip()} ({meaning})", code
        )

    def _send(self, line: str) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(line.encode() + b"\n")
        except OSError as err:
            raise TransportError(f"{self.client.where}: connection lost: {err}") from None

    def _read_line(self, what: str) -> str:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError:
                raise TransportError(
                    f"{self.client.where}: no answer within {self.client.timeout:g} s while {what}"
                ) from None
            except OSError as err:
                raise TransportError(f"{self.client.where}: connection lost: {err}") from None
            if not chunk:
                raise TransportError(
                    f"{self.client.where}: upsd closed the connection while {what}"
                )
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")


def _quote(value: str) -> str:
    """A protocol argument: always double-quoted, with backslash escapes, on one line."""
    if "\n" in value or "\r" in value:
        raise TransportError("a NUT protocol argument cannot contain a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _split(line: str) -> list[str]:
    """Split a reply into words the way upsd quotes them ("..." with \\ escapes)."""
    words: list[str] = []
    current: list[str] = []
    in_word = in_quotes = escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = in_word = True
        elif char == '"':
            in_quotes = not in_quotes
            in_word = True
        elif char == " " and not in_quotes:
            if in_word:
                words.append("".join(current))
            current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words
