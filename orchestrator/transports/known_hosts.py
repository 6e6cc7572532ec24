"""known_hosts files, as the SSH and switch transports both use them.

Which policy applies to a connection is not decided here: `engine/endpoints.py` holds the
one rule (accept-new only in a drill) and hands every endpoint the policy it settled on.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

# strict: a key known_hosts does not vouch for is refused. accept-new: an unknown key is
# trusted and recorded; a changed one is still refused.
HostKeyPolicy = Literal["strict", "accept-new"]

# Threads connecting to different new hosts at once must not interleave their lines.
_write_lock = threading.Lock()


def default_known_hosts() -> Path:
    """The operator's own file, used only when the inventory names none."""
    return Path.home() / ".ssh" / "known_hosts"


def known_hosts_name(address: str, port: int) -> str:
    """A host's name as OpenSSH writes it in known_hosts (bracketed off port 22)."""
    return address if port == 22 else f"[{address}]:{port}"


class KnownHostsEntry:
    """Where an endpoint's host key is looked up: its known_hosts file and its name there.

    Mixed into the host and switch endpoints (dataclasses that define these fields), so
    both name themselves in known_hosts the same way.
    """

    address: str
    port: int
    known_hosts: Path | None

    @property
    def known_hosts_path(self) -> Path:
        return self.known_hosts or default_known_hosts()

    @property
    def known_hosts_name(self) -> str:
        """The name as OpenSSH writes it in known_hosts (bracketed off port 22)."""
        return known_hosts_name(self.address, self.port)


def bracketed(address: str) -> str:
    """`address` as messages show it next to a port: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address


def append_known_host(path: Path, hostname: str, key: Any) -> None:
    """Record `key` (a paramiko PKey) for `hostname`, as accept-new does for a new host."""
    with _write_lock:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        existing = path.read_bytes() if path.exists() else b""
        separator = "\n" if existing and not existing.endswith(b"\n") else ""
        with path.open("a", encoding="utf-8") as known_hosts:
            known_hosts.write(f"{separator}{hostname} {key.get_name()} {key.get_base64()}\n")
        path.chmod(0o600)
