"""Backup sets of kind `postgres-pitr`: a PostgreSQL cluster archived continuously by
pgBackRest (WAL plus full and differential base backups), so that it can be recovered to
any moment, not just to last night's dump.

A set names the host pair whose database cluster it protects, the pgBackRest stanza, and
up to four repositories (repo1, repo2, ... in the order written): typically a path on
the backup host and an S3 bucket offsite. Every repository is encrypted with the set's
cipher pass (a reference, like every secret). `archive_timeout` is PostgreSQL's: a WAL
segment is closed and archived at least this often, which bounds what a lost data
centre loses. The other kind, `restic` (backup_sets.py), stays the default.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    PositiveInt,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from orchestrator.inventory.backup_sets import BackupSet
from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import AbsolutePath, Cron, Port
from orchestrator.inventory.names import Identifier, Name
from orchestrator.inventory.object_lock import ObjectLockPolicy
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.pitr_restore_test import PitrChecks, PitrRestoreTest
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel

PITR_KIND = "postgres-pitr"
RESTIC_KIND = "restic"
_KINDS = (RESTIC_KIND, PITR_KIND)

_STANZA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_stanza(value: str) -> str:
    if not _STANZA.match(value):
        raise PydanticCustomError(
            "stanza", "a stanza name is letters, digits, '_' and '-', e.g. credit"
        )
    return value


def _check_endpoint(value: str) -> str:
    if not _ENDPOINT.match(value):
        raise PydanticCustomError(
            "s3_endpoint",
            "write the S3 endpoint as HOST or HOST:PORT, without https:// (pgBackRest "
            "always uses TLS), e.g. s3.cn-north-1.amazonaws.com.cn or 10.77.8.60:9000",
        )
    return value


def _check_bucket(value: str) -> str:
    if not _BUCKET.match(value):
        raise PydanticCustomError(
            "s3_bucket", "an S3 bucket name is 3-63 lowercase letters, digits, '.' and '-'"
        )
    return value


StanzaName = Annotated[str, AfterValidator(_check_stanza)]
S3Endpoint = Annotated[str, AfterValidator(_check_endpoint)]
S3Bucket = Annotated[str, AfterValidator(_check_bucket)]


class PitrRetention(StrictModel):
    """How many base backups each repository keeps (pgBackRest's repo-retention-*).
    Expiring a full backup also expires the WAL only it needed."""

    full: PositiveInt = 2
    diff: PositiveInt | None = None


class PitrPosixRepository(StrictModel):
    """A repository in a directory: the backup host's, mounted where pgBackRest runs."""

    type: Literal["posix"]
    path: AbsolutePath
    retention: PitrRetention | None = None  # default: the set's
    cipher_pass: SecretRef | None = None  # default: the set's


class PitrS3Repository(StrictModel):
    """A repository in an S3 bucket (offsite); keys are references."""

    type: Literal["s3"]
    endpoint: S3Endpoint
    bucket: S3Bucket
    region: str = "us-east-1"
    # Where in the bucket the repository lives.
    path: AbsolutePath = "/"
    # "path" for a local S3 (MinIO, the lab's) that has no per-bucket host names.
    uri_style: Literal["host", "path"] = "host"
    verify_tls: bool = True
    ca_file: InventoryPath | None = None
    access_key_id: SecretRef
    secret_access_key: SecretRef
    retention: PitrRetention | None = None
    cipher_pass: SecretRef | None = None
    # Versioning plus S3 Object Lock, set by `dr backup init` (object_lock.py).
    object_lock: ObjectLockPolicy | None = None


def _repository_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"type={kind}" if kind in ("posix", "s3") else None


PitrRepository = Annotated[
    Annotated[PitrPosixRepository, Tag("type=posix")] | Annotated[PitrS3Repository, Tag("type=s3")],
    Discriminator(
        _repository_tag,
        custom_error_type="pitr_repository",
        custom_error_message="a repository needs 'type:' set to posix or s3",
    ),
]


class PitrSchedule(StrictModel):
    """When the scheduler takes base backups (cron). WAL is archived continuously; a
    base backup only shortens the replay a recovery needs."""

    full: Cron | None = None
    diff: Cron | None = None


class PitrTimeouts(StrictModel):
    """How long one pgBackRest command may run before its process group is stopped."""

    backup: Duration = Field(default=24 * 3600, ge=1)
    restore: Duration = Field(default=24 * 3600, ge=1)
    # check, verify, info, expire, stanza-create
    other: Duration = Field(default=3600, ge=1)


class PitrCluster(StrictModel):
    """Where the set's cluster lives on one host, as pgBackRest (running where dr runs)
    reaches it: its data directory, its socket directory and, when it is not the set's
    or the pair's, its port. On a host of the set's pair it is archived and backed up
    (pg1, pg2 in pgBackRest's configuration, so both keep working after a failover);
    on any other host (the backup room's) it is only a place to restore into."""

    host: Name
    path: AbsolutePath
    socket_path: AbsolutePath
    port: Port | None = None


class PitrBackupSet(StrictModel):
    """A PostgreSQL cluster archived by pgBackRest for point-in-time recovery."""

    kind: Literal["postgres-pitr"]
    name: Name
    # The pair whose database cluster this protects (pg_port defaults to its database's).
    host_pair: Name
    stanza: StanzaName
    repositories: list[PitrRepository] = Field(min_length=1, max_length=4)
    cipher_pass: SecretRef
    # PostgreSQL's archive_timeout: the longest a written transaction waits for archiving.
    archive_timeout: Duration = Field(default=60, ge=1)
    schedule: PitrSchedule = Field(default_factory=PitrSchedule)
    retention: PitrRetention = Field(default_factory=PitrRetention)
    # The cluster, as pgBackRest reaches it on the host where it runs.
    pg_path: AbsolutePath = "/var/lib/postgresql/15/main"
    pg_port: Port | None = None
    pg_socket_path: AbsolutePath = "/var/run/postgresql"
    pg_user: Identifier = "postgres"
    # Where the cluster lives on each host, when that differs from host to host (the
    # lab's pair shares one machine); without it every host has it at pg_path.
    clusters: list[PitrCluster] = []
    # The account pgBackRest runs as: PostgreSQL's own, since archive_command runs as it.
    os_user: Identifier = "postgres"
    # Default /etc/pgbackrest/STANZA.conf; dr writes it (0600, no secrets in it).
    config_file: AbsolutePath | None = None
    spool_path: AbsolutePath = "/var/spool/pgbackrest"
    log_path: AbsolutePath = "/var/log/pgbackrest"
    lock_path: AbsolutePath = "/tmp/pgbackrest"
    process_max: PositiveInt = Field(default=2, le=64)
    # An immediate checkpoint when a backup starts, instead of waiting for a spread one.
    start_fast: bool = False
    timeouts: PitrTimeouts = Field(default_factory=PitrTimeouts)
    rpo: Duration | None = None
    rto: Duration | None = None
    description: str | None = None
    checks: PitrChecks = Field(default_factory=PitrChecks)  # pitr_restore_test.py
    restore_test: PitrRestoreTest = Field(default_factory=PitrRestoreTest)

    @field_validator("rpo")
    @classmethod
    def _archives_within_rpo(cls, rpo: int | None, info: ValidationInfo) -> int | None:
        timeout = info.data.get("archive_timeout")
        if rpo is not None and timeout is not None and timeout > rpo:
            raise PydanticCustomError(
                "archive_timeout",
                "the rpo ({rpo}s) is shorter than archive_timeout ({timeout}s), which lets a "
                "written transaction wait that long before it is archived",
                {"timeout": timeout, "rpo": rpo},
            )
        return rpo

    @field_validator("clusters")
    @classmethod
    def _one_cluster_per_host(cls, clusters: list[PitrCluster]) -> list[PitrCluster]:
        hosts = [c.host for c in clusters]
        twice = sorted({h for h in hosts if hosts.count(h) > 1})
        if twice:
            raise PydanticCustomError(
                "clusters",
                "host(s) {hosts} listed twice: a host holds the set's cluster in one place",
                {"hosts": ", ".join(twice)},
            )
        return clusters

    @property
    def config_path(self) -> str:
        return self.config_file or f"/etc/pgbackrest/{self.stanza}.conf"

    def cluster_on(self, host: str) -> PitrCluster | None:
        """Where the set's cluster lives (or is restored) on `host`: its `clusters:` entry;
        without `clusters:` the set's pg_path, pg_socket_path and pg_port, the same on
        every host. None when `clusters:` does not list `host`."""
        if not self.clusters:
            return PitrCluster(
                host=host, path=self.pg_path, socket_path=self.pg_socket_path, port=self.pg_port
            )
        return next((c for c in self.clusters if c.host == host), None)


def _kind_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind", RESTIC_KIND)
    else:
        kind = getattr(value, "kind", None)
    return f"kind={kind}" if kind in _KINDS else None


AnyBackupSet = Annotated[
    Annotated[BackupSet, Tag(f"kind={RESTIC_KIND}")]
    | Annotated[PitrBackupSet, Tag(f"kind={PITR_KIND}")],
    Discriminator(
        _kind_tag,
        custom_error_type="backup_set_kind",
        custom_error_message="a backup set's 'kind:' is restic (the default) or postgres-pitr",
    ),
]
"""A backup set of any kind, told apart by its `kind:` (restic when it is left out)."""
