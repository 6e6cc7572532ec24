"""Backup sets: what restic backs up from a host, where to (and how to reach it), when,
for how long, and how the monthly restore test proves it restorable."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator
from pydantic_core import PydanticCustomError

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import (
    AbsolutePath,
    Cron,
    DatabaseName,
    Port,
    ResticLocation,
    ResticTag,
)
from orchestrator.inventory.names import Label, Name
from orchestrator.inventory.paths import InventoryPath
from orchestrator.inventory.secrets import SecretRef
from orchestrator.inventory.strict import StrictModel


class BackupDatabase(StrictModel):
    """A PostgreSQL database dumped (pg_dump -Fc) straight into the repository."""

    name: DatabaseName  # the database to dump, on the pair's server
    host_pair: Name | None = None
    source: Literal["primary", "standby"] = "primary"
    format: Literal["custom"] = "custom"


class Retention(StrictModel):
    keep_last: NonNegativeInt | None = None
    keep_hourly: NonNegativeInt | None = None
    keep_daily: NonNegativeInt | None = None
    keep_weekly: NonNegativeInt | None = None
    keep_monthly: NonNegativeInt | None = None
    keep_yearly: NonNegativeInt | None = None


class SftpAccess(StrictModel):
    """How restic reaches an SFTP repository: our key and our known_hosts, strictly."""

    port: Port = 22
    key_file: InventoryPath
    known_hosts: InventoryPath
    connect_timeout: float = Field(default=10, gt=0)


class S3Access(StrictModel):
    """Credentials (references only) and region of an S3 repository."""

    access_key_id: SecretRef
    secret_access_key: SecretRef
    region: str | None = None


def _check_repository_access(location: str, sftp: object, s3: object) -> None:
    if location.startswith("sftp:") and sftp is None:
        raise PydanticCustomError(
            "repository_access",
            "an SFTP repository needs an 'sftp:' block with key_file and known_hosts",
        )
    if location.startswith("s3:") and s3 is None:
        raise PydanticCustomError(
            "repository_access",
            "an S3 repository needs an 's3:' block with access_key_id and secret_access_key",
        )
    if sftp is not None and not location.startswith("sftp:"):
        raise PydanticCustomError("repository_access", "'sftp:' is only for sftp: repositories")
    if s3 is not None and not location.startswith("s3:"):
        raise PydanticCustomError("repository_access", "'s3:' is only for s3: repositories")


class RepositoryTarget(StrictModel):
    """A restic repository and how to open it (a set's copy_to; also built for its main one)."""

    repository: ResticLocation
    password: SecretRef
    sftp: SftpAccess | None = None
    s3: S3Access | None = None

    @model_validator(mode="after")
    def _access_fits_kind(self) -> RepositoryTarget:
        _check_repository_access(self.repository, self.sftp, self.s3)
        return self


class BackupHooks(StrictModel):
    """Commands run on the machine running `dr backup run` (by /bin/sh).

    `before` runs first; one failing stops the run. `after` always runs, also after a
    failure (so a service stopped by a before hook is started again); it sees
    DR_BACKUP_STATUS=ok|partial|failed.
    """

    before: list[Label] = []
    after: list[Label] = []


class BackupTimeouts(StrictModel):
    """How long each process of a backup may run before its whole process group is
    stopped (SIGINT, then SIGKILL): a hung NFS mount, a stuck SFTP server or a dump
    waiting on a lock must fail the run loudly, not hold the set's lock for ever."""

    # One before/after hook command.
    hook: Duration = Field(default=600, ge=1)
    # One database dump: pg_dump streamed into restic, from start to snapshot.
    dump: Duration = Field(default=6 * 3600, ge=1)
    # Any other single restic command (backup of the files, copy, check, prune, dump).
    restic: Duration = Field(default=24 * 3600, ge=1)
    # One statement on the database server: each table's row count and checksum.
    query: Duration = Field(default=3600, ge=1)


class RestoreExpect(StrictModel):
    """What a validation query's single value must be. `not_older_than` is measured from
    the snapshot's time, not the test's: it asks whether the backup held fresh data."""

    equals: int | float | str | None = None
    min: float | None = None
    max: float | None = None
    not_older_than: Duration | None = None

    @model_validator(mode="after")
    def _says_something(self) -> RestoreExpect:
        if all(v is None for v in (self.equals, self.min, self.max, self.not_older_than)):
            raise PydanticCustomError(
                "empty_expect", "give at least one of equals, min, max, not_older_than"
            )
        return self


class RestoreValidation(StrictModel):
    """One query run against the restored database by `dr restore-test`."""

    name: Label
    sql: str = Field(min_length=1)
    expect: RestoreExpect
    # Which of the set's databases; may be left out when the set has exactly one.
    database: Label | None = None


class RestoreTest(StrictModel):
    """The monthly restore test: queries proving the data is usable, and its targets
    (default: the set's own rto/rpo)."""

    validations: list[RestoreValidation] = []
    rto: Duration | None = None
    rpo: Duration | None = None
    # The period whose largest gap between good backups is measured against the RPO.
    period: Duration = 31 * 86400


def _check_restore_validations(test: RestoreTest, databases: list[BackupDatabase]) -> None:
    names = {d.name for d in databases}
    for check in test.validations:
        if check.database is None and len(names) != 1:
            raise PydanticCustomError(
                "restore_validation_database",
                "restore_test validation {name!r}: name its 'database' (the set has {count})",
                {"name": check.name, "count": len(names)},
            )
        if check.database is not None and check.database not in names:
            raise PydanticCustomError(
                "restore_validation_database",
                "restore_test validation {name!r}: {db!r} is not one of the set's databases",
                {"name": check.name, "db": check.database},
            )


class BackupSet(StrictModel):
    """What restic backs up from one host, where to, how often and for how long."""

    # The default kind; `postgres-pitr` sets are pitr_sets.PitrBackupSet.
    kind: Literal["restic"] = "restic"
    name: Name
    host: Name
    repository: ResticLocation
    password: SecretRef
    sftp: SftpAccess | None = None
    s3: S3Access | None = None
    paths: list[AbsolutePath] = []
    databases: list[BackupDatabase] = []
    tags: list[ResticTag] = []
    hooks: BackupHooks = Field(default_factory=BackupHooks)
    schedule: Cron | None = None
    retention: Retention = Field(default_factory=Retention)
    copy_to: RepositoryTarget | None = None
    # How long to wait for a repository another restic process has locked.
    lock_wait: Duration = 600
    # A lock of this host whose process is gone is removed only once it is this old.
    lock_stale_after: Duration = 3600
    timeouts: BackupTimeouts = Field(default_factory=BackupTimeouts)
    # `dr backup check` reads 1/N of the data each day: every pack once in N days.
    check_cycle_days: PositiveInt = 30
    rto: Duration | None = None
    rpo: Duration | None = None
    restore_test: RestoreTest = Field(default_factory=RestoreTest)
    description: str | None = None

    @model_validator(mode="after")
    def _backs_something_up(self) -> BackupSet:
        if not self.paths and not self.databases:
            raise PydanticCustomError(
                "empty_backup_set", "a backup set needs 'paths', 'databases' or both"
            )
        _check_repository_access(self.repository, self.sftp, self.s3)
        _check_restore_validations(self.restore_test, self.databases)
        return self

    @property
    def main_repository(self) -> RepositoryTarget:
        return RepositoryTarget.model_construct(
            repository=self.repository, password=self.password, sftp=self.sftp, s3=self.s3
        )
