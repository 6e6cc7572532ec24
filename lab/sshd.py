"""A real OpenSSH server for tests, `make drill` and the lab's hosts.

Everything it needs (keys, config, pid, log, known_hosts) lives in its state directory;
nothing under /etc is read or written, so several servers (one per lab namespace, or one
per test) run side by side without touching the machine's own sshd.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lab.errors import LabError
from lab.processes import descendants, signal_all
from orchestrator.local_machine import process_is_running
from orchestrator.transports.ssh import SshEndpoint

SSHD = Path("/usr/sbin/sshd")
# sshd insists on this root-owned, empty privilege-separation directory; it is runtime
# state, not configuration.
PRIVSEP_DIR = Path("/run/sshd")
INSTALL_HINT = "install openssh-server: apt-get install openssh-server"
STOP_GRACE_S = 5.0

# Run inside a network namespace (via `ip netns exec`) to see whether sshd answers there;
# the address and port arrive as arguments, never formatted into the code.
_BANNER_PROBE = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1) as s:
    sys.exit(0 if s.recv(4).startswith(b"SSH-") else 1)
"""


def _banner_answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


class SshServer:
    """One sshd listening on `listen_address:port`, optionally inside network namespace
    `netns`, accepting the client key it generates plus any `authorized_keys` files."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int,
        listen_address: str = "127.0.0.1",
        netns: str | None = None,
        authorized_keys: list[Path] | None = None,
        sshd_binary: Path = SSHD,
    ) -> None:
        self.state_dir = state_dir
        self.port = port
        self.listen_address = listen_address
        self.netns = netns
        self.extra_authorized_keys = list(authorized_keys or [])
        self.sshd_binary = sshd_binary
        self.host_key_file = state_dir / "ssh_host_ed25519_key"
        self.authorized_keys_file = state_dir / "authorized_keys"
        self.config_file = state_dir / "sshd_config"
        self.log_file = state_dir / "sshd.log"
        self._pid_file = state_dir / "server.pid"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def client_key_file(self) -> Path:
        return self.state_dir / "client_ed25519"

    @property
    def known_hosts_file(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def host_public_key_line(self) -> str:
        """`ssh-ed25519 AAAA...`, the host key as known_hosts and ssh-keyscan show it."""
        key_type, key_data, *_ = self.host_key_file.with_suffix(".pub").read_text().split()
        return f"{key_type} {key_data}"

    @property
    def pid(self) -> int | None:
        """The running listener's pid, also when another process started it."""
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        try:
            pid = int(self._pid_file.read_text())
        except (OSError, ValueError):
            return None
        # Guard against pid reuse: only a process running *our* config counts.
        try:
            # sshd rewrites its process title into one string ("sshd: /usr/sbin/sshd -D
            # -e -f CONFIG [listener] ..."), so look for the config path anywhere in it.
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return None
        ours = str(self.config_file).encode() in cmdline
        return pid if ours and process_is_running(pid) else None

    def endpoint(self, name: str) -> SshEndpoint:
        """An endpoint that reaches this server as the current user with its client key."""
        return SshEndpoint(
            name=name,
            address=self.listen_address,
            port=self.port,
            user=pwd.getpwuid(os.geteuid()).pw_name,
            key_file=self.client_key_file,
            known_hosts=self.known_hosts_file,
        )

    def start(self, timeout: float = 30) -> None:
        """Start sshd and return once it answers; does nothing if it already runs."""
        if self.pid is not None:
            return
        self._require(self.sshd_binary, "sshd")
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._ensure_key(self.host_key_file, "dr-lab-host")
        self._ensure_key(self.client_key_file, "dr-lab-client")
        self._write_authorized_keys()
        self.config_file.write_text(self._config())
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        self._validate()
        self._launch()
        self._wait_until_ready(timeout)
        self._write_known_hosts()

    def stop(self) -> None:
        """Stop the listener and every session it spawned; does nothing if not running."""
        pid = self.pid
        if pid is not None:
            doomed = [pid, *descendants(pid)]
            signal_all(doomed, signal.SIGTERM)
            if not self._wait_gone(doomed, STOP_GRACE_S):
                signal_all(doomed, signal.SIGKILL)
                self._wait_gone(doomed, STOP_GRACE_S)
        if self._process is not None:
            self._process.wait()
            self._process = None
        self._pid_file.unlink(missing_ok=True)

    def _wait_gone(self, pids: list[int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None:
                self._process.poll()  # collect our own child so it does not linger as a zombie
            if not any(process_is_running(pid) for pid in pids):
                return True
            time.sleep(0.05)
        return False

    def _require(self, program: Path, name: str) -> None:
        if not program.is_file():
            raise LabError(f"{name} not found at {program}; {INSTALL_HINT}")

    def _ensure_key(self, path: Path, comment: str) -> None:
        # Generated once and kept: the host key must stay stable across restarts, or
        # every known_hosts written earlier would (rightly) refuse the server.
        if path.exists():
            return
        keygen = shutil.which("ssh-keygen")
        if keygen is None:
            raise LabError(f"ssh-keygen not found; {INSTALL_HINT}")
        cmd = [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
        subprocess.run(cmd, check=True, capture_output=True)

    def _write_authorized_keys(self) -> None:
        keys = [self.client_key_file.with_suffix(".pub").read_text().strip()]
        keys += [extra.read_text().strip() for extra in self.extra_authorized_keys]
        self.authorized_keys_file.write_text("\n".join(keys) + "\n")

    def _config(self) -> str:
        settings = [
            ("ListenAddress", self.listen_address),
            ("Port", str(self.port)),
            ("HostKey", str(self.host_key_file)),
            ("PidFile", str(self.state_dir / "sshd.pid")),
            ("AuthorizedKeysFile", str(self.authorized_keys_file)),
            ("PubkeyAuthentication", "yes"),
            ("PasswordAuthentication", "no"),
            ("KbdInteractiveAuthentication", "no"),
            ("PermitRootLogin", "prohibit-password"),
            ("UsePAM", "no"),
            # The state dir may sit under a world-writable /tmp during tests.
            ("StrictModes", "no"),
            ("LogLevel", "VERBOSE"),
            ("UseDNS", "no"),
            ("PrintMotd", "no"),
            ("X11Forwarding", "no"),
            ("AllowAgentForwarding", "no"),
            ("AllowTcpForwarding", "no"),
            ("PermitTunnel", "no"),
            ("PermitUserEnvironment", "no"),
            # The engine runs many commands per host at once over one connection.
            ("MaxSessions", "50"),
            ("MaxStartups", "100"),
            ("Subsystem", "sftp internal-sftp"),
        ]
        return "".join(f"{keyword} {value}\n" for keyword, value in settings)

    def _sshd_command(self, *args: str) -> list[str]:
        command = [str(self.sshd_binary), *args, "-f", str(self.config_file)]
        return ["ip", "netns", "exec", self.netns, *command] if self.netns else command

    def _validate(self) -> None:
        checked = subprocess.run(self._sshd_command("-t"), capture_output=True, text=True)
        if checked.returncode != 0:
            output = (checked.stderr + checked.stdout).strip()
            raise LabError(f"sshd rejected {self.config_file}:\n{output}")

    def _launch(self) -> None:
        # Only this run's part of the (appended) log may prove that this sshd listens.
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            # -D keeps sshd in the foreground so we own its pid; its own session lets
            # stop() signal it without touching the process that started it.
            self._process = subprocess.Popen(
                self._sshd_command("-D", "-e"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._pid_file.write_text(f"{self._process.pid}\n")

    def _listening(self) -> bool:
        """Our sshd logged that it listens, and the port answers with an SSH banner.

        The log line is what proves the answer comes from *our* process and not from a
        leftover server on the same port."""
        with self.log_file.open("rb") as log:
            log.seek(self._log_offset)
            if b"Server listening on" not in log.read():
                return False
        if self.netns is None:
            return _banner_answers(self.listen_address, self.port)
        probe = ["ip", "netns", "exec", self.netns, sys.executable, "-c", _BANNER_PROBE]
        probe += [self.listen_address, str(self.port)]
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while not self._listening():
            status = self._process.poll()
            if status is not None:
                self.stop()
                raise LabError(
                    f"sshd exited with status {status} right after starting "
                    f"on {self.listen_address}:{self.port}:\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LabError(
                    f"sshd did not answer on {self.listen_address}:{self.port} within "
                    f"{timeout:g}s; see {self.log_file}:\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _write_known_hosts(self) -> None:
        name = self.listen_address if self.port == 22 else f"[{self.listen_address}]:{self.port}"
        self.known_hosts_file.write_text(f"{name} {self.host_public_key_line}\n")
