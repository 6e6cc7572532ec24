"""`dr backup init SET` for a `postgres-pitr` set: the configuration, the posix
repositories' directories, the S3 repositories' buckets, `stanza-create` in every
repository, and the PostgreSQL settings that archive into them (printed for the
operator, or for Ansible, to apply; `dr backup check` then proves archiving works).

An S3 bucket that is missing is made (versioned, with the repository's `object_lock:`),
one that exists is checked and brought to that; the answer says whether the set's key
could delete object versions (it should not: README, "Backups an attacker cannot
delete"). Like the restic kind, nothing else creates a repository: a repository that
vanished must be an error at the next backup, not silently replaced by an empty one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backups import s3_bucket
from backups.locks import backup_set_lock
from backups.pgbackrest.config import PosixStorage
from backups.pitr import files
from backups.pitr.buckets import bucket_access, object_lock_of, s3_repositories
from backups.pitr.context import PitrContext
from backups.pitr.settings import server_settings

APPEND_ONLY_WARNING = (
    "this repository's key may delete object versions: a compromised database host "
    "could destroy the backups. Give the host a key with the policy of "
    'backups.s3_policies.database_host_policy (README, "Backups an attacker cannot '
    'delete"), and Object Lock to the bucket'
)


def init_set(ctx: PitrContext) -> dict[str, Any]:
    bset = ctx.backup_set
    with backup_set_lock(bset.name):
        session = ctx.session()
        buckets = {
            index: s3_bucket.provision(bucket_access(repo), object_lock_of(repo))
            for index, repo in s3_repositories(bset)
        }
        repositories = []
        for index, repository in enumerate(session.settings.repositories, start=1):
            if isinstance(repository.storage, PosixStorage):
                files.working_directory(Path(repository.storage.path), session.owner)
            entry = {"repository": index, "location": repository.describe()}
            if index in buckets:
                entry["bucket"] = buckets[index]
                if not buckets[index]["append_only"]:
                    entry["warning"] = APPEND_ONLY_WARNING
            repositories.append(entry)
        session.stanza_create(bset.timeouts.other)
        document = {
            "stanza": bset.stanza,
            "config_file": session.config_path,
            "pgbackrest_version": str(session.version),
            "repositories": repositories,
            "postgresql_settings": server_settings(ctx.inventory, bset, session.program),
        }
        ctx.record("backup.initialized", document)
    return document
