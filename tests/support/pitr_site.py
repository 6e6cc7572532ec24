"""A real point-in-time recovery site for the tests: PostgreSQL 15 archiving through
pgBackRest into a local repository (repo1) and an encrypted S3 one (repo2, moto behind
TLS). No mocks.

The site's state lives under a 0711 directory the postgres account can pass through
(pytest's own tmp dirs are 0700 root): pgBackRest runs as that account, as PostgreSQL's
archive_command does. The S3 endpoint can be told to refuse uploads (`refuse_writes`):
the offsite repository then stays readable while archiving into it fails, which is how
a repository falls behind in real life (a key that lost its write permission, a quota).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import psycopg2
import pytest
import yaml
from moto.server import DomainDispatcherApplication, create_backend_app

from backups.pitr.context import PitrContext
from backups.pitr.session import pgbackrest_program
from backups.pitr.settings import server_settings
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal
from orchestrator.local_machine import find_free_port, wait_until
from orchestrator.postgresql.local_cluster import LocalCluster
from tests.support.s3_tls import TlsMotoServer, _ClosingTlsServer, write_certificate

CIPHER_PASS = "pitr-Cipher-4b7e1d90"
S3_KEY, S3_SECRET = "AKIADRPITRKEY0001", "pitr-S3-Secret-5c2f8e"
S3_KEY_ENV, S3_SECRET_ENV = "DR_TEST_PITR_S3_KEY", "DR_TEST_PITR_S3_SECRET"
BUCKET_PREFIX = "dr-pitr-"
SET_NAME = "credit-pitr"
_WRITES = frozenset({"PUT", "POST", "DELETE"})


class GatedS3(TlsMotoServer):
    """moto over TLS whose uploads can be refused (403 AccessDenied) while reads go on."""

    def __init__(self, port: int, cert_file: Path, key_file: Path) -> None:
        super().__init__(port, cert_file, key_file)
        self.refuse_writes = threading.Event()

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = DomainDispatcherApplication(create_backend_app)
        refusing = self.refuse_writes

        def gate(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if refusing.is_set() and environ.get("REQUEST_METHOD") in _WRITES:
                start_response("403 Forbidden", [("Content-Type", "application/xml")])
                return [b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"]
            return moto(environ, start_response)

        self._server = _ClosingTlsServer("127.0.0.1", self.port, gate, ssl_context=self._context)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()


@dataclass
class Site:
    base: Path
    inventory: Path
    cluster: LocalCluster
    db: str
    s3: GatedS3
    cert: Path
    # The pitr set's fields and the document's top level the site was written with.
    set_fields: dict[str, Any]
    top_fields: dict[str, Any]
    bucket: str

    @property
    def s3_endpoint(self) -> str:
        return self.s3.endpoint

    def context(self, inventory: Path | None = None) -> PitrContext:
        loaded = load_inventory(inventory or self.inventory)
        return PitrContext.for_set(loaded, SET_NAME, journal=Journal(self.db))

    def inventory_with(self, file_name: str, *, top: dict[str, Any] | None = None,
                       **changes: Any) -> Path:  # fmt: skip
        """Another inventory of the same site: the set's fields (and the top level) changed."""
        return write_inventory(
            self.base, file_name, port=self.cluster.port, s3_endpoint=self.s3_endpoint,
            cert=self.cert, bucket=self.bucket, top={**self.top_fields, **(top or {})},
            **{**self.set_fields, **changes},
        )  # fmt: skip

    def apply_archiving(self, inventory: Path) -> None:
        """Give the running cluster the archiving settings of `inventory` (a reload)."""
        loaded = load_inventory(inventory)
        self.cluster.extra_settings = server_settings(
            loaded, loaded.pitr_sets[0], pgbackrest_program()
        )
        self.cluster.init(fast=True)


def postgres_account() -> pwd.struct_passwd:
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())


def private_file(path: Path, text: str) -> None:
    """A secret file only the postgres account (which archive_command runs as) reads."""
    path.write_text(text + "\n")
    path.chmod(0o600)
    owner = postgres_account()
    os.chown(path, owner.pw_uid, owner.pw_gid)


def write_inventory(
    base: Path,
    file_name: str,
    *,
    port: int,
    s3_endpoint: str,
    cert: Path,
    bucket: str,
    top: dict[str, Any] | None = None,
    **changes: Any,
) -> Path:
    pitr: dict[str, Any] = {
        "name": SET_NAME,
        "kind": "postgres-pitr",
        "host_pair": "credit",
        "stanza": "credit",
        "pg_path": str(base / "primary" / "data"),
        "pg_socket_path": str(base / "primary" / "run"),
        "repositories": [
            {"type": "posix", "path": str(base / "repo1")},
            {
                "type": "s3",
                "endpoint": s3_endpoint,
                "bucket": bucket,
                "path": "/credit",
                "uri_style": "path",
                "ca_file": str(cert),
                "access_key_id": f"env:{S3_KEY_ENV}",
                "secret_access_key": f"env:{S3_SECRET_ENV}",
            },
        ],
        "cipher_pass": f"file:{base / 'secrets' / 'cipher.pass'}",
        "archive_timeout": "60s",
        "schedule": {"full": "0 1 * * 0", "diff": "0 1 * * 1-6"},
        "retention": {"full": 2, "diff": 6},
        "config_file": str(base / "pgbackrest" / "credit.conf"),
        "spool_path": str(base / "spool"),
        "log_path": str(base / "log"),
        "lock_path": str(base / "lock"),
        "process_max": 4,
        "start_fast": True,
        "rpo": "5m",
        **changes,
    }
    document = {
        "name": "pitr-test",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [
            {"name": "db-a", "address": "127.0.0.1", "site": "dc"},
            {"name": "db-b", "address": "127.0.0.1", "site": "dc"},
        ],
        "host_pairs": [
            {
                "name": "credit",
                "service": "credit",
                "primary": "db-a",
                "standby": "db-b",
                "vip": "127.0.0.10/8",
                "database": {"port": port, "name": "credit", "user": "postgres"},
            }
        ],
        "backup_sets": [pitr],
        **(top or {}),
    }
    path = base / file_name
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


@contextlib.contextmanager
def open_site(
    prefix: str = "dr-test-pitr-", *, top: dict[str, Any] | None = None, **changes: Any
) -> Iterator[Site]:
    """A running site: S3, the cluster archiving per the set (`changes` to its fields,
    `top` to the inventory's top level), a database `credit`; all removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o711)
    (base / "secrets").mkdir(mode=0o755)
    private_file(base / "secrets" / "cipher.pass", CIPHER_PASS)
    (base / "s3").mkdir(mode=0o755)
    cert, key = write_certificate(base / "s3")
    cert.chmod(0o644)
    s3 = GatedS3(find_free_port(), cert, key)
    s3.start()
    cluster: LocalCluster | None = None
    with pytest.MonkeyPatch.context() as patch:
        try:
            # Before the cluster starts: archive_command reads the S3 keys from its
            # environment.
            patch.setenv(S3_KEY_ENV, S3_KEY)
            patch.setenv(S3_SECRET_ENV, S3_SECRET)
            patch.setenv("XDG_STATE_HOME", str(base / "state"))
            s3_client = boto3.client(
                "s3", endpoint_url=s3.url, aws_access_key_id=S3_KEY,
                aws_secret_access_key=S3_SECRET, region_name="us-east-1", verify=str(cert),
            )  # fmt: skip
            # moto keeps its buckets per process, not per server: each site its own.
            bucket = f"{BUCKET_PREFIX}{secrets.token_hex(4)}"
            s3_client.create_bucket(Bucket=bucket)
            port = find_free_port()
            inventory = write_inventory(
                base, "inventory.yaml", port=port, s3_endpoint=s3.endpoint, cert=cert,
                bucket=bucket, top=top, **changes,
            )  # fmt: skip
            loaded = load_inventory(inventory)
            settings = server_settings(loaded, loaded.pitr_sets[0], pgbackrest_program())
            cluster = LocalCluster(base / "primary" / "data", port=port, extra_settings=settings)
            cluster.init(fast=True)
            cluster.start()
            cluster.create_database("credit")
            db = f"sqlite:///{base / 'journal.sqlite3'}"
            yield Site(
                base, inventory, cluster, db, s3, cert, dict(changes), dict(top or {}), bucket
            )
        finally:
            if cluster is not None:
                cluster.stop("immediate")
            # archive_command's asynchronous pgBackRest outlives the server for a moment
            # and would make its spool again after the directory is gone.
            wait_until(lambda: not _processes_using(base), timeout=30)
            s3.stop()
            shutil.rmtree(base, ignore_errors=True)


def _processes_using(base: Path) -> list[int]:
    """Processes whose command line names a path under `base` (the site's pgBackRest)."""
    found = []
    marker = str(base).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def dr(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The `dr` command, in a process of its own, with this process's environment."""
    command = [sys.executable, "-m", "orchestrator.cli.main", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ), timeout=timeout
    )


def psql(cluster: LocalCluster, sql: str, database: str = "postgres") -> str:
    return cluster.psql(sql, database=database).strip()


REPAYMENTS = (
    "CREATE TABLE IF NOT EXISTS repayments (id bigserial PRIMARY KEY, "
    "committed_at timestamptz NOT NULL DEFAULT clock_timestamp(), amount numeric NOT NULL)"
)


class Writer:
    """A load generator: one repayment per `interval` into the `credit` database, each
    in its own transaction, and its own record of every write acknowledged (the id and
    when the commit returned), like the drill lab's. Usable as an AcknowledgedWrites."""

    def __init__(self, cluster: LocalCluster, interval: float = 0.05) -> None:
        self.cluster = cluster
        self.interval = interval
        self.acknowledged: list[tuple[str, datetime]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failure: BaseException | None = None

    def __enter__(self) -> Writer:
        self.cluster.psql(REPAYMENTS, database="credit")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._failure is not None:
            raise AssertionError(f"the load generator failed: {self._failure}")

    def _run(self) -> None:
        try:
            self._write()
        except BaseException as err:  # reported by __exit__, in the test's own thread
            self._failure = err

    def _write(self) -> None:
        conn = psycopg2.connect(
            host=str(self.cluster.socket_dir), port=self.cluster.port, user="postgres",
            dbname="credit",
        )  # fmt: skip
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                while not self._stop.wait(self.interval):
                    cursor.execute(
                        "INSERT INTO repayments (amount) "
                        "VALUES (round((random() * 1000)::numeric, 2)) RETURNING id"
                    )
                    row = cursor.fetchone()
                    assert row is not None
                    with self._lock:
                        self.acknowledged.append((str(row[0]), datetime.now(UTC)))
        finally:
            conn.close()

    # -- AcknowledgedWrites (backups.pitr.restore_test_writes) ----------------------------

    def describe(self) -> str:
        return f"the test's load generator ({len(self.acknowledged)} writes acknowledged)"

    def ids_between(self, since: datetime | None, until: datetime | None) -> set[str]:
        with self._lock:
            return {i for i, at in self.acknowledged if _within(at, since, until)}

    def count_between(self, since: datetime | None, until: datetime | None) -> int:
        return len(self.ids_between(since, until))


def _within(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or at > since) and (until is None or at <= until)
