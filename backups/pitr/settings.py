"""From an inventory's `postgres-pitr` set to what pgBackRest is given: its configuration
values, the variables its secrets travel in, and PostgreSQL's archiving settings."""

from __future__ import annotations

from backups.execute import Masker
from backups.pgbackrest.archiving import (
    SecretSource,
    archive_get_command,
    archive_push_command,
    postgresql_settings,
)
from backups.pgbackrest.config import (
    PgCluster,
    PosixStorage,
    RepositorySettings,
    S3Storage,
    StanzaSettings,
    secret_names,
)
from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory, PitrBackupSet, SecretRef, resolve_secret
from orchestrator.inventory.pitr_sets import PitrCluster, PitrPosixRepository, PitrS3Repository

DEFAULT_PG_PORT = 5432


def pg_port(inventory: Inventory, bset: PitrBackupSet) -> int:
    """The set's own pg_port, else its pair's database port, else PostgreSQL's default."""
    if bset.pg_port is not None:
        return bset.pg_port
    database = inventory.pair(bset.host_pair).database
    return database.port if database is not None else DEFAULT_PG_PORT


def cluster_port(inventory: Inventory, bset: PitrBackupSet, cluster: PitrCluster) -> int:
    """A cluster's own port, else the set's (`pg_port`)."""
    return cluster.port if cluster.port is not None else pg_port(inventory, bset)


def archived_clusters(inventory: Inventory, bset: PitrBackupSet) -> list[PitrCluster]:
    """The clusters pgBackRest archives and backs up (pg1, pg2, ...): those on the
    pair's hosts, in the order `clusters:` lists them; without `clusters:`, the one at
    the set's pg_path (pg1), on the pair's primary."""
    pair = inventory.pair(bset.host_pair)
    if not bset.clusters:
        return [_present(bset.cluster_on(pair.primary))]
    return [c for c in bset.clusters if c.host in (pair.primary, pair.standby)]


def stanza_settings(inventory: Inventory, bset: PitrBackupSet) -> StanzaSettings:
    first, *others = archived_clusters(inventory, bset)
    return StanzaSettings(
        set_name=bset.name,
        stanza=bset.stanza,
        pg_path=first.path,
        pg_port=cluster_port(inventory, bset, first),
        pg_socket_path=first.socket_path,
        pg_user=bset.pg_user,
        repositories=tuple(_repository(bset, r) for r in bset.repositories),
        spool_path=bset.spool_path,
        log_path=bset.log_path,
        lock_path=bset.lock_path,
        process_max=bset.process_max,
        start_fast=bset.start_fast,
        other_clusters=tuple(
            PgCluster(c.path, cluster_port(inventory, bset, c), c.socket_path) for c in others
        ),
    )


def _present(cluster: PitrCluster | None) -> PitrCluster:
    # cluster_on always answers for a set without `clusters:`.
    assert cluster is not None
    return cluster


def _repository(
    bset: PitrBackupSet, repo: PitrPosixRepository | PitrS3Repository
) -> RepositorySettings:
    retention = repo.retention or bset.retention
    storage: PosixStorage | S3Storage
    if isinstance(repo, PitrPosixRepository):
        storage = PosixStorage(repo.path)
    else:
        storage = S3Storage(
            endpoint=repo.endpoint,
            bucket=repo.bucket,
            region=repo.region,
            path=repo.path,
            uri_style=repo.uri_style,
            verify_tls=repo.verify_tls,
            ca_file=str(repo.ca_file) if repo.ca_file is not None else None,
        )
    return RepositorySettings(storage, retention.full, retention.diff)


def secret_refs(inventory: Inventory, bset: PitrBackupSet) -> dict[str, SecretRef]:
    """Each PGBACKREST_* variable pgBackRest needs, and the reference it is read from."""
    refs: dict[str, SecretRef] = {}
    settings = stanza_settings(inventory, bset)
    pairs = zip(bset.repositories, settings.repositories, strict=True)
    for index, (repo, repository) in enumerate(pairs, start=1):
        names = secret_names(index, repository)
        refs[names.cipher_pass] = repo.cipher_pass or bset.cipher_pass
        if isinstance(repo, PitrS3Repository) and names.s3_key and names.s3_key_secret:
            refs[names.s3_key] = repo.access_key_id
            refs[names.s3_key_secret] = repo.secret_access_key
    return refs


def resolve_secrets(inventory: Inventory, bset: PitrBackupSet, masker: Masker) -> dict[str, str]:
    """Every secret read now (failing early, with what to do), and taught to the masker."""
    values = {name: resolve_secret(ref) for name, ref in secret_refs(inventory, bset).items()}
    for value in values.values():
        masker.add(value)
    return values


def secret_sources(inventory: Inventory, bset: PitrBackupSet) -> dict[str, SecretSource]:
    return {
        name: SecretSource(ref.kind, str(ref.path) if ref.kind == "file" else ref.target)
        for name, ref in secret_refs(inventory, bset).items()
    }


def server_settings(
    inventory: Inventory, bset: PitrBackupSet, program: str, host: str | None = None
) -> dict[str, str]:
    """PostgreSQL's settings for this set (postgresql.conf form): archive every segment
    through pgBackRest, and close one at least every archive_timeout. `host`: the
    settings of the cluster on that host (`clusters:`), whose archive_command names its
    own data directory when that is not pg1's; without it, pg1's."""
    pg_path = None
    if host is not None:
        cluster = bset.cluster_on(host)
        if cluster is None:
            raise UserInputError(
                f"backup set {bset.name!r} lists no cluster on host {host!r}; add it under "
                "clusters: with its data directory and socket directory"
            )
        if cluster.path != stanza_settings(inventory, bset).pg_path:
            pg_path = cluster.path
    command = archive_push_command(
        program, bset.config_path, bset.stanza, secret_sources(inventory, bset), pg_path=pg_path
    )
    return postgresql_settings(command, bset.archive_timeout)


def restore_command(
    inventory: Inventory, bset: PitrBackupSet, program: str, pg_path: str | None = None
) -> str:
    """The restore_command a restored cluster fetches WAL with (secrets read as above);
    `pg_path` its data directory when that is not the set's pg_path."""
    sources = secret_sources(inventory, bset)
    return archive_get_command(program, bset.config_path, bset.stanza, sources, pg_path=pg_path)
