"""One switch's CLI conversation: send a call, record the exchange, map the failures.

`NetDevice` decides *what* to send; this class sends it over a connection it opens on
demand, and keeps every exchange. After any failure in the middle of a call (a rejected
line, a timeout, a lost connection) the connection is discarded: netmiko may have left
it inside configuration mode or out of step with the prompt, so the next call logs in
afresh. A cached connection is checked before anything is sent, so that a dead one is
replaced without a command ever being sent twice by this layer.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Literal

import paramiko
from netmiko.exceptions import ConfigInvalidException, NetmikoBaseException, ReadException

from orchestrator.errors import HostKeyRejected, TransportError
from orchestrator.transports.netdev_commands import CommandSet
from orchestrator.transports.netdev_records import (
    DeviceConnection,
    Exchange,
    SwitchOperationFailed,
)

TRANSCRIPT_LIMIT = 1000
Kind = Literal["command", "config", "save"]


class Conversation:
    """Calls to one device, one at a time (the caller holds the device's lock)."""

    def __init__(
        self,
        connect: Callable[[], DeviceConnection],
        commands: CommandSet,
        *,
        where: str,
        command_timeout: float,
        secrets: Sequence[str] = (),
    ) -> None:
        self.commands = commands
        self.where = where
        self.command_timeout = command_timeout
        self.transcript: deque[Exchange] = deque(maxlen=TRANSCRIPT_LIMIT)
        self._connect = connect
        self._secrets = [secret for secret in secrets if secret]
        self._connection: DeviceConnection | None = None

    def command(self, line: str, exchanges: list[Exchange], *, silent: bool = False) -> str:
        """One exec/shell command. `silent`: it prints nothing when it succeeds, so any
        output matching the command set's error pattern fails it."""
        output = self._call("command", (line,), exchanges)
        if silent and re.search(self.commands.error_pattern, output, flags=re.M):
            raise SwitchOperationFailed(
                f"{self.where} refused `{line}`: {output.strip()}", exchanges
            )
        return output

    def config(self, lines: Sequence[str], exchanges: list[Exchange]) -> str:
        """Lines sent in the vendor's configuration mode, stopping at the first rejected."""
        return self._call("config", tuple(lines), exchanges)

    def save(self, exchanges: list[Exchange]) -> str:
        save = self.commands.save
        assert save is not None
        output = self._call("save", (save.command,), exchanges)
        if re.search(self.commands.error_pattern, output, flags=re.M):
            raise SwitchOperationFailed(
                f"{self.where} did not save its configuration: {output.strip()}; the change is "
                f"live but would be lost on a reboot, so save it by hand",
                exchanges,
            )
        return output

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):
                connection.disconnect()

    def _call(self, kind: Kind, sent: tuple[str, ...], exchanges: list[Exchange]) -> str:
        connection = self._connected(exchanges)
        started = time.monotonic()
        try:
            output = self._scrub(self._invoke(connection, kind, sent))
        except ConfigInvalidException as exc:
            reason = self._scrub(str(exc)).rstrip(".")
            problem = (
                f"{self.where} reported an error in configuration: {reason}. The lines "
                f"before that one were applied and any after it were not sent; check the port "
                f"name and VLAN, and read the port's state before retrying"
            )
        except ReadException as exc:
            said = self._scrub(str(exc)).strip().splitlines()
            reason = f"no prompt within {self.command_timeout:g}s" + (
                f" ({said[0]})" if said else ""
            )
            problem = (
                f"{reason} from {self.where} after {list(sent)}; it may or may not have been "
                f"applied: check the port's state before retrying"
            )
        except (OSError, EOFError, paramiko.SSHException) as exc:
            reason = f"connection lost: {self._scrub(str(exc)) or type(exc).__name__}"
            problem = (
                f"lost the connection to {self.where} during {list(sent)} ({reason}); it may "
                f"or may not have been applied: check the switch before retrying"
            )
        except (NetmikoBaseException, ValueError) as exc:
            # Every other netmiko failure (a write that failed, a prompt it could not find,
            # a VRP8 commit the device refused) carries the device's words: keep them.
            words = self._scrub(str(exc)).strip() or type(exc).__name__
            reason = f"{type(exc).__name__}: {words}"
            problem = (
                f"{self.where} did not complete {list(sent)}: {words}. It may or may not "
                f"have been applied: read the port's state before retrying"
            )
        else:
            self._record(kind, sent, output, started, exchanges)
            return output
        self._record(kind, sent, f"[dr: {reason}]", started, exchanges)
        self.close()
        raise SwitchOperationFailed(problem, exchanges)

    def _invoke(self, connection: DeviceConnection, kind: Kind, sent: tuple[str, ...]) -> str:
        if kind == "command":
            return str(connection.send_command(sent[0], read_timeout=self.command_timeout))
        if kind == "config":
            output = connection.send_config_set(
                list(sent),
                error_pattern=self.commands.error_pattern,
                read_timeout=self.command_timeout,
            )
            if self.commands.commit:
                # VRP8 keeps the lines in a candidate configuration until `commit`; netmiko
                # raises ValueError with the device's answer if the commit fails. A set
                # that failed part-way is never committed: the session is closed, and VRP8
                # drops a closed session's uncommitted changes.
                output += connection.commit()
            return output
        save = self.commands.save
        assert save is not None
        response = save.confirm_response
        return connection.save_config(
            cmd=save.command, confirm=response is not None, confirm_response=response or ""
        )

    def _record(
        self,
        kind: Kind,
        sent: tuple[str, ...],
        output: str,
        started: float,
        exchanges: list[Exchange],
    ) -> None:
        exchange = Exchange(kind, sent, output, time.monotonic() - started)
        exchanges.append(exchange)
        self.transcript.append(exchange)

    def _connected(self, exchanges: list[Exchange]) -> DeviceConnection:
        if self._connection is not None:
            alive = False
            with suppress(Exception):
                alive = self._connection.is_alive()
            if alive:
                return self._connection
            self.close()
        try:
            self._connection = self._connect()
        except (HostKeyRejected, SwitchOperationFailed):
            raise  # a refused host key stays what it is: the run must stop on it
        except TransportError as exc:
            # As a switch operation's failure, so that `ctx.switch()` journals it with
            # what was exchanged until then (the reads of this operation, if any).
            raise SwitchOperationFailed(exc.message, exchanges) from None
        return self._connection

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text
