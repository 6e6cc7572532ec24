"""pgBackRest's configuration file for one stanza, and the names of its secret variables.

The file holds everything but secrets: the repositories (repo1, repo2, ... in the
inventory's order), encryption on for each, retention, asynchronous archiving with its
spool, logs and locks, and the cluster (pg1-*; pg2-* ... where it also runs on the
pair's other host). Cipher passes and S3 keys go to each
pgBackRest process in its environment (`secret_names`); pgBackRest reads a variable
PGBACKREST_X as its option x (src/config/parse.c: the prefix dropped, lower case, '_'
to '-'), above the file. The file is written 0600 by `backups.pitr.files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backups.pgbackrest.features import Feature, Version, has

CIPHER_TYPE = "aes-256-cbc"
HEADER = (
    "# Written by dr from the inventory (backup set {name}); edits here are lost.\n"
    "# No secrets here: dr gives pgBackRest its cipher passes and S3 keys in PGBACKREST_*\n"
    "# variables, and archive_command reads them from where the inventory says.\n"
)


@dataclass(frozen=True)
class PosixStorage:
    path: str


@dataclass(frozen=True)
class S3Storage:
    endpoint: str  # HOST or HOST:PORT; always TLS
    bucket: str
    region: str
    path: str = "/"
    uri_style: Literal["host", "path"] = "host"
    verify_tls: bool = True
    ca_file: str | None = None


@dataclass(frozen=True)
class RepositorySettings:
    storage: PosixStorage | S3Storage
    retention_full: int
    retention_diff: int | None = None

    @property
    def kind(self) -> str:
        return "s3" if isinstance(self.storage, S3Storage) else "posix"

    def describe(self) -> str:
        storage = self.storage
        if isinstance(storage, S3Storage):
            return f"s3://{storage.bucket}{storage.path.rstrip('/')} at {storage.endpoint}"
        return storage.path


@dataclass(frozen=True)
class PgCluster:
    """One more place the stanza's cluster runs (pg2, pg3, ...): the pair's other host.
    pgBackRest asks each in turn which one is the primary, so a backup still finds it
    after a failover."""

    path: str
    port: int
    socket_path: str


@dataclass(frozen=True)
class StanzaSettings:
    """Everything the file says, as values (built from the inventory by backups.pitr)."""

    set_name: str
    stanza: str
    pg_path: str
    pg_port: int
    pg_socket_path: str
    pg_user: str
    repositories: tuple[RepositorySettings, ...]
    spool_path: str
    log_path: str
    lock_path: str
    process_max: int = 2
    start_fast: bool = False
    # pg2, pg3, ...: pg_path, pg_port and pg_socket_path above are pg1.
    other_clusters: tuple[PgCluster, ...] = ()

    def describe(self) -> str:
        """The stanza and its repositories, for messages."""
        repos = ", ".join(
            f"repo{n} ({r.describe()})" for n, r in enumerate(self.repositories, start=1)
        )
        return f"stanza {self.stanza!r} [{repos}]"


@dataclass(frozen=True)
class SecretNames:
    """The variables one repository's secrets travel in."""

    cipher_pass: str
    s3_key: str | None = None
    s3_key_secret: str | None = None


def secret_names(index: int, repository: RepositorySettings) -> SecretNames:
    prefix = f"PGBACKREST_REPO{index}_"
    if repository.kind != "s3":
        return SecretNames(cipher_pass=f"{prefix}CIPHER_PASS")
    return SecretNames(
        cipher_pass=f"{prefix}CIPHER_PASS",
        s3_key=f"{prefix}S3_KEY",
        s3_key_secret=f"{prefix}S3_KEY_SECRET",
    )


def render_config(settings: StanzaSettings, version: Version) -> str:
    """The whole file, in pgBackRest's ini form."""
    options: list[tuple[str, str]] = []
    for index, repository in enumerate(settings.repositories, start=1):
        options += _repository_options(index, repository, version)
    options += [
        ("archive-async", "y"),
        ("spool-path", settings.spool_path),
        ("process-max", str(settings.process_max)),
        ("start-fast", "y" if settings.start_fast else "n"),
        ("log-path", settings.log_path),
        ("lock-path", settings.lock_path),
        # Output we parse goes to stdout; warnings and errors to stderr, for us to read.
        ("log-level-console", "off"),
        ("log-level-stderr", "warn"),
        ("log-level-file", "info"),
    ]
    clusters = [
        PgCluster(settings.pg_path, settings.pg_port, settings.pg_socket_path),
        *settings.other_clusters,
    ]
    stanza: list[tuple[str, str]] = []
    for index, cluster in enumerate(clusters, start=1):
        stanza += [
            (f"pg{index}-path", cluster.path),
            (f"pg{index}-port", str(cluster.port)),
            (f"pg{index}-socket-path", cluster.socket_path),
            (f"pg{index}-user", settings.pg_user),
        ]
    return (
        HEADER.format(name=settings.set_name)
        + _section("global", options)
        + "\n"
        + _section(settings.stanza, stanza)
    )


def _repository_options(
    index: int, repository: RepositorySettings, version: Version
) -> list[tuple[str, str]]:
    repo = f"repo{index}"
    storage = repository.storage
    if isinstance(storage, PosixStorage):
        options = [(f"{repo}-path", storage.path)]
    else:
        options = [
            (f"{repo}-type", "s3"),
            (f"{repo}-path", storage.path),
            (f"{repo}-s3-bucket", storage.bucket),
            (f"{repo}-s3-endpoint", storage.endpoint),
            (f"{repo}-s3-region", storage.region),
            (f"{repo}-s3-uri-style", storage.uri_style),
            (f"{repo}-storage-verify-tls", "y" if storage.verify_tls else "n"),
        ]
        if storage.ca_file is not None:
            options.append((f"{repo}-storage-ca-file", storage.ca_file))
    options += [
        (f"{repo}-cipher-type", CIPHER_TYPE),
        (f"{repo}-retention-full", str(repository.retention_full)),
    ]
    if repository.retention_diff is not None:
        options.append((f"{repo}-retention-diff", str(repository.retention_diff)))
    if has(version, Feature.REPO_BUNDLE):
        options.append((f"{repo}-bundle", "y"))
    return options


def _section(name: str, options: list[tuple[str, str]]) -> str:
    lines = [f"[{_checked(name)}]"]
    lines += [f"{_checked(key)}={_checked(value)}" for key, value in options]
    return "\n".join(lines) + "\n"


def _checked(text: str) -> str:
    # A line break would start a new option: refuse it rather than write a surprise.
    if "\n" in text or "\r" in text or not text.strip():
        raise ValueError(f"not a pgBackRest configuration value: {text!r}")
    return text
