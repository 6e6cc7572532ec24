"""Recorded switch sessions: replay one in place of a device, or record one from a device.

A recording is a YAML file: the device type, where the transcript came from, and the
list of calls `NetDevice` made on its connection with what the device answered:

    device_type: cisco_ios
    provenance: representative   # or: captured (recorded from a real device)
    note: free text
    exchanges:
      - send_command: show interfaces status
        output: |
          Port      Name               Status       Vlan ...
      - send_config_set: [interface GigabitEthernet1/0/1, shutdown]
        output: ...
      - save_config: write memory
        confirm_response: y          # only where the device asks [Y/N]
        output: ...
      - commit: commit               # VRP8 only: the candidate configuration committed
        output: ...

`RecordedSession` stands in for the netmiko connection below `NetDevice`: every call
must be the next recorded one, with exactly the recorded lines, or `ReplayMismatch`
fails the test; that is how the vendors the lab cannot run get their command sequences
checked. The replay sits at netmiko's method level, not the byte stream: it proves what
dr asks netmiko to send and how dr reads the answers, not how netmiko drives the prompt.

`RecordingConnection` wraps a live netmiko connection and writes such a file, so that a
session on a real device (in a maintenance window) becomes a `captured` recording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from netmiko.exceptions import ConfigInvalidException

_CALLS = ("send_command", "send_config_set", "save_config", "commit")


class ReplayMismatch(AssertionError):
    """dr made a call the recording does not have at that point."""


@dataclass(frozen=True)
class RecordedCall:
    call: str
    sent: tuple[str, ...]
    output: str
    confirm_response: str | None = None

    @classmethod
    def from_yaml(cls, entry: dict[str, Any], where: str) -> RecordedCall:
        calls = [name for name in _CALLS if name in entry]
        if len(calls) != 1 or "output" not in entry:
            raise ValueError(f"{where}: each exchange needs one of {_CALLS} and an output")
        sent = entry[calls[0]]
        lines = tuple(sent) if isinstance(sent, list) else (str(sent),)
        return cls(calls[0], lines, str(entry["output"]), entry.get("confirm_response"))

    def to_yaml(self) -> dict[str, Any]:
        sent: Any = list(self.sent) if self.call == "send_config_set" else self.sent[0]
        entry: dict[str, Any] = {self.call: sent}
        if self.confirm_response is not None:
            entry["confirm_response"] = self.confirm_response
        entry["output"] = self.output
        return entry


class RecordedSession:
    """A fake netmiko connection that replays a recording and checks every call."""

    def __init__(self, calls: list[RecordedCall], *, device_type: str, source: str) -> None:
        self.device_type = device_type
        self.source = source
        self.disconnects = 0
        self._calls = calls
        self._next = 0

    @classmethod
    def load(cls, path: Path) -> RecordedSession:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        calls = [
            RecordedCall.from_yaml(entry, f"{path} exchange {number}")
            for number, entry in enumerate(data["exchanges"], start=1)
        ]
        return cls(calls, device_type=str(data["device_type"]), source=str(path))

    def send_command(self, command_string: str, **_options: Any) -> str:
        return self._expect("send_command", (command_string,)).output

    def send_config_set(
        self, config_commands: list[str], *, error_pattern: str = "", **_options: Any
    ) -> str:
        recorded = self._expect("send_config_set", tuple(config_commands))
        # As netmiko does: a line of output matching error_pattern raises, and the rest of
        # the set is not sent (the recording holds the output up to that point).
        match = re.search(error_pattern, recorded.output, flags=re.M) if error_pattern else None
        if match:
            before = recorded.output[: match.start()]
            command = max(config_commands, key=lambda line: before.rfind(line.strip()))
            raise ConfigInvalidException(
                f"Invalid input detected at command: {command}, matched error: {match.group(0)}"
            )
        return recorded.output

    def save_config(self, cmd: str = "", confirm: bool = False, confirm_response: str = "") -> str:
        recorded = self._expect("save_config", (cmd,))
        wanted = recorded.confirm_response
        answered = confirm_response if confirm else None
        if answered != wanted:
            raise ReplayMismatch(
                f"{self.source}: save_config({cmd!r}) answered the prompt with {answered!r}, "
                f"the recording with {wanted!r}"
            )
        return recorded.output

    def commit(self) -> str:
        recorded = self._expect("commit", ("commit",))
        if "Failed to generate committed config" in recorded.output:
            # As netmiko's huawei_vrpv8 driver does.
            raise ValueError(f"Commit failed with following errors:\n\n{recorded.output}")
        return recorded.output

    def is_alive(self) -> bool:
        return True

    def disconnect(self) -> None:
        self.disconnects += 1

    def assert_finished(self) -> None:
        """Fail unless every recorded call was made."""
        if self._next != len(self._calls):
            missing = self._calls[self._next]
            raise ReplayMismatch(
                f"{self.source}: the session ended before exchange {self._next + 1} "
                f"({missing.call} {list(missing.sent)}) was made"
            )

    def _expect(self, call: str, sent: tuple[str, ...]) -> RecordedCall:
        number = self._next + 1
        if self._next >= len(self._calls):
            raise ReplayMismatch(
                f"{self.source}: unexpected {call} {list(sent)} after the last recorded exchange"
            )
        recorded = self._calls[self._next]
        if (recorded.call, recorded.sent) != (call, sent):
            raise ReplayMismatch(
                f"{self.source} exchange {number}: expected {recorded.call} "
                f"{list(recorded.sent)}, got {call} {list(sent)}"
            )
        self._next += 1
        return recorded


class RecordingConnection:
    """Passes calls to a live connection and keeps each with its answer; `write()` saves
    them as a recording (check it for secrets and site details before committing it)."""

    def __init__(self, connection: Any, *, device_type: str) -> None:
        self.device_type = device_type
        self.calls: list[RecordedCall] = []
        self._connection = connection

    def send_command(self, command_string: str, **options: Any) -> str:
        output = str(self._connection.send_command(command_string, **options))
        self.calls.append(RecordedCall("send_command", (command_string,), output))
        return output

    def send_config_set(self, config_commands: list[str], **options: Any) -> str:
        try:
            output = str(self._connection.send_config_set(config_commands, **options))
        except ConfigInvalidException as exc:
            # netmiko does not hand back the output of a rejected set; keep its message.
            self.calls.append(RecordedCall("send_config_set", tuple(config_commands), str(exc)))
            raise
        self.calls.append(RecordedCall("send_config_set", tuple(config_commands), output))
        return output

    def save_config(self, cmd: str = "", confirm: bool = False, confirm_response: str = "") -> str:
        output = str(self._connection.save_config(cmd, confirm, confirm_response))
        response = confirm_response if confirm else None
        self.calls.append(RecordedCall("save_config", (cmd,), output, response))
        return output

    def commit(self) -> str:
        output = str(self._connection.commit())
        self.calls.append(RecordedCall("commit", ("commit",), output))
        return output

    def is_alive(self) -> bool:
        return bool(self._connection.is_alive())

    def disconnect(self) -> None:
        self._connection.disconnect()

    def write(self, path: Path, *, note: str) -> None:
        document = {
            "device_type": self.device_type,
            "provenance": "captured",
            "note": note,
            "exchanges": [call.to_yaml() for call in self.calls],
        }
        path.write_text(
            yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
