"""The restore test's scratch place: a temporary directory and, inside it, a throwaway
PostgreSQL server. Both are removed on the way out, whatever happened inside; if the
directory cannot be removed, the operator is told where it is (it holds restored
production data).

The server runs SQL that came from production (the dump, the inventory's validation
queries), so it is boxed in: it listens on its Unix socket only (listen_addresses = ''),
starts with no variable of ours in its environment (no secret of `dr`'s), the dump is
restored by `dr_restore`, a role that is no superuser and owns the database, and the
validations run as `dr_validate`, which may only read (pg_read_all_data), in read-only
transactions. No role but the bootstrap superuser, which only `dr` itself uses, may run
programs or read server files (`COPY ... PROGRAM`).

The directory is 0711 (not mkdtemp's 0700) because, when we are root, the server runs
as the postgres account, which must pass through it to reach its data directory; the
restored files go into a 0700 subdirectory of their own, so nobody else can read them.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.errors import DrError
from orchestrator.local_machine import find_free_port
from orchestrator.postgresql.local_cluster import LocalCluster

log = logging.getLogger(__name__)

PREFIX = "dr-restore-test-"
RESTORER = "dr_restore"
VALIDATOR = "dr_validate"


@contextmanager
def scratch_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        root.chmod(0o711)
        (root / "files").mkdir(mode=0o700)
        (root / "dumps").mkdir(mode=0o700)
        yield root
    finally:
        remove_scratch(root)


def remove_scratch(root: Path) -> None:
    """Remove the scratch place; say where it is if that fails (production data)."""
    failures: list[str] = []
    shutil.rmtree(root, onerror=lambda _f, path, info: failures.append(f"{path}: {info[1]}"))
    if failures or root.exists():
        log.error(
            "could not remove the restore test's scratch directory %s, which holds restored "
            "production data; remove it by hand (%s)",
            root,
            "; ".join(failures[:3]) or "it is still there",
        )


class ScratchPostgres:
    """A server nobody else uses, on its Unix socket only, fsync off (nothing in it
    needs to survive a crash: it lives for one test)."""

    def __init__(self, root: Path) -> None:
        # The port names the socket file; nothing listens on TCP.
        self.server = LocalCluster(
            root / "pg" / "data",
            port=find_free_port(),
            listen_address="",
            allowed_networks=[],
            superuser_password=secrets.token_urlsafe(18),
            name="dr-restore-test",
            clean_environment=True,
        )
        self.dumps = root / "dumps"  # where each dump waits, verified, for pg_restore
        self.user = RESTORER
        self.password = secrets.token_urlsafe(18)
        self.validator = VALIDATOR
        self.validator_password = secrets.token_urlsafe(18)

    def create_roles(self) -> None:
        self.server.create_role(self.user, self.password)
        self.server.create_role(self.validator, self.validator_password)
        self.server.psql(f"GRANT pg_read_all_data TO {self.validator};")

    @property
    def host(self) -> str:
        return self.server.endpoint.host

    @property
    def port(self) -> int:
        return self.server.port


@contextmanager
def scratch_postgres(root: Path) -> Iterator[ScratchPostgres]:
    scratch = ScratchPostgres(root)
    try:
        scratch.server.init(fast=True)
        scratch.server.start()
        scratch.create_roles()
        yield scratch
    finally:
        # Immediate: the data is thrown away next, so a clean shutdown buys nothing.
        with contextlib.suppress(DrError):
            scratch.server.stop("immediate")
