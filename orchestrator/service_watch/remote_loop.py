"""python3 kept running on a branch host, one GET per request, over one SSH session.

Starting python3 for every probe costs a process start on the branch host (tens of ms,
more on a loaded one) between the moment the watch notes and the moment the request
leaves: the watch's clock would run ahead of the branch's view by that much. Here the
script starts once; each probe is a line of JSON on its stdin ({"url", "timeout"}) and
a line back ({"status", "error"}), so the time between our note and the GET is one SSH
round trip. The script ends when its stdin closes: when the watch closes the session,
or the connection drops.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time

import paramiko

from orchestrator.errors import TransportError
from orchestrator.transports.ssh import SshTransport
from orchestrator.transports.ssh_connect import SshEndpoint

LOOP_SCRIPT = r"""
import json, sys, urllib.error, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for line in sys.stdin:
    ask = json.loads(line)
    try:
        with opener.open(ask["url"], timeout=ask["timeout"]) as r:
            r.read(65536)
            out = {"status": r.status, "error": None}
    except urllib.error.HTTPError as e:
        out = {"status": e.code, "error": "HTTP %d" % e.code}
    except Exception as e:
        out = {"status": None, "error": str(getattr(e, "reason", e))}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""
# Beyond a probe's own timeout: an SSH round trip, and python3 starting the first time.
ALLOWANCE_S = 3.0


class ProbeLoopCannotRun(Exception):
    """The host answered, but the probe script does not run there (no python3, say):
    a problem of the watch's set-up, never an outage of the service."""


class RemoteProbeLoop:
    def __init__(self, ssh: SshTransport, endpoint: SshEndpoint, script: str = LOOP_SCRIPT) -> None:
        self._ssh = ssh
        self._endpoint = endpoint
        self._script = script
        self._stack: contextlib.ExitStack | None = None
        self._channel: paramiko.Channel | None = None
        self._buffer = b""

    def get(self, url: str, timeout: float) -> str | None:
        """None if `url` answered 200 from the host, else what it answered or why not.
        Raises TransportError when the host could not be asked, ProbeLoopCannotRun when
        the script ended by itself (the loop is then closed; the next call starts it
        again)."""
        deadline = time.monotonic() + timeout + ALLOWANCE_S
        try:
            channel = self._channel or self._open(deadline)
            channel.sendall(json.dumps({"url": url, "timeout": timeout}).encode() + b"\n")
            answer = json.loads(self._line(channel, deadline))
        except (paramiko.SSHException, OSError, EOFError, ValueError) as err:
            self.close()
            raise TransportError(
                f"the probe loop on {self._endpoint.where} stopped answering ({err})"
            ) from None
        except (TransportError, ProbeLoopCannotRun):
            self.close()
            raise
        return None if answer.get("status") == 200 else str(answer.get("error") or "no answer")

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self._channel, self._buffer = None, None, b""

    def _open(self, deadline: float) -> paramiko.Channel:
        stack = contextlib.ExitStack()
        channel = stack.enter_context(self._ssh.session(self._endpoint, deadline))
        channel.exec_command(f"exec python3 -u -c {shlex.quote(self._script)}")
        self._stack, self._channel = stack, channel
        return channel

    def _line(self, channel: paramiko.Channel, deadline: float) -> bytes:
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer in time")
            channel.settimeout(left)
            chunk = channel.recv(4096)
            if not chunk:
                # The exit status follows the end of output closely, not with it.
                if channel.status_event.wait(1.0):
                    raise ProbeLoopCannotRun(self._ended(channel))
                raise EOFError("the session closed")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _ended(self, channel: paramiko.Channel) -> str:
        status = channel.recv_exit_status()
        channel.settimeout(1.0)
        try:
            said = channel.recv_stderr(2000).decode("utf-8", "replace").strip()
        except (OSError, paramiko.SSHException):
            said = ""
        return (
            f"the probe script on {self._endpoint.where} ended with exit {status}"
            + (f": {said[-300:]}" if said else "")
            + " (does the host have python3? else give the site another `check:`)"
        )
