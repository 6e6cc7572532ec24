"""The lab's state directory and its manifest: what `up` made, so `down` can undo it all.

Everything the lab creates on disk lives under one directory (default /var/lib/dr-lab,
or DR_LAB_DIR). The manifest `lab.json` lists the processes started, the faults in
force and the lab's size; it is rewritten atomically after every change, so a crash in
the middle of `up` still leaves a manifest that `down` can follow.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.processes import LabProcess

DEFAULT_LAB_DIR = Path("/var/lib/dr-lab")


def lab_dir() -> Path:
    return Path(os.environ.get("DR_LAB_DIR") or DEFAULT_LAB_DIR)


@dataclass
class LabManifest:
    branches: int = 2
    loans: int = 10_000
    processes: dict[str, LabProcess] = field(default_factory=dict)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    ready: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "branches": self.branches,
            "loans": self.loans,
            "ready": self.ready,
            "processes": {k: p.to_dict() for k, p in self.processes.items()},
            "faults": self.faults,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabManifest:
        return cls(
            branches=int(data.get("branches", 2)),
            loans=int(data.get("loans", 10_000)),
            ready=bool(data.get("ready", False)),
            processes={k: LabProcess(**v) for k, v in data.get("processes", {}).items()},
            faults=dict(data.get("faults", {})),
        )


class LabState:
    """The state directory: paths of every part, and the manifest."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or lab_dir()
        self._lock = threading.Lock()

    # ---- paths --------------------------------------------------------------------

    @property
    def manifest_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def observe(self) -> Path:
        return self.root / "observe"

    @property
    def mail(self) -> Path:
        """What the lab's mail room received (lab/mailroom.py), a file per message."""
        return self.root / "mail"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.root / "ssh" / "id_ed25519"

    @property
    def inventory_file(self) -> Path:
        return self.root / "inventory.yaml"

    def host_dir(self, host: str) -> Path:
        return self.root / "hosts" / host

    def pg_data_dir(self, host: str) -> Path:
        """The credit cluster's data directory on `host` (lab/postgres.py)."""
        return self.host_dir(host) / "pg" / "data"

    def pg_socket_dir(self, host: str) -> Path:
        """Its Unix socket directory (LocalCluster's default: beside the data directory)."""
        return self.host_dir(host) / "pg" / "run"

    @property
    def pitr_dir(self) -> Path:
        """pgBackRest's configuration, spool, logs and locks for the lab's credit-pitr set."""
        return self.root / "pgbackrest"

    @property
    def dc_repo(self) -> Path:
        """The data centre's own pgBackRest repository (repo1); `site-loss` takes it away."""
        return self.root / "dc-repo"

    @property
    def ca_file(self) -> Path:
        """The lab CA that signed the S3 TLS front's certificate (lab/lab_ca.py)."""
        return self.root / "ca" / "lab-ca.pem"

    # ---- manifest -----------------------------------------------------------------

    def exists(self) -> bool:
        return self.manifest_file.exists()

    def load(self) -> LabManifest:
        if not self.manifest_file.exists():
            return LabManifest()
        return LabManifest.from_dict(json.loads(self.manifest_file.read_text()))

    def save(self, manifest: LabManifest) -> None:
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            temporary = self.manifest_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(manifest.to_dict(), indent=2))
            temporary.replace(self.manifest_file)

    def write_secret(self, name: str, value: str) -> Path:
        """A secret for the lab's parts, 0600, referenced from the inventory as file:."""
        self.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.secrets / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        return path

    def secret(self, name: str) -> str:
        # One trailing newline is the file's, not the secret's (as resolve_secret reads it).
        return (self.secrets / name).read_text().removesuffix("\n")
