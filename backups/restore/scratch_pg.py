"""The restore test's scratch place: a temporary directory and, inside it, a throwaway
PostgreSQL server. Both are removed on the way out, whatever happened inside.

The directory is 0711 (not mkdtemp's 0700) because, when we are root, the server runs
as the postgres account, which must pass through it to reach its data directory; the
restored files go into a 0700 subdirectory of their own, so nobody else can read them.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.errors import DrError
from orchestrator.local_machine import find_free_port
from orchestrator.postgresql.local_cluster import SUPERUSER, LocalCluster

PREFIX = "dr-restore-test-"


@contextmanager
def scratch_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        root.chmod(0o711)
        (root / "files").mkdir(mode=0o700)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


class ScratchPostgres:
    """A server nobody else uses, on a free loopback port, fsync off (nothing in it
    needs to survive a crash: it lives for one test)."""

    def __init__(self, root: Path) -> None:
        self.password = secrets.token_urlsafe(18)
        self.server = LocalCluster(
            root / "pg" / "data",
            port=find_free_port(),
            superuser_password=self.password,
            name="dr-restore-test",
        )
        self.user = SUPERUSER

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
        yield scratch
    finally:
        # Immediate: the data is thrown away next, so a clean shutdown buys nothing.
        with contextlib.suppress(DrError):
            scratch.server.stop("immediate")
