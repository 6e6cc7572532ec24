"""`dr backup init SET` for a `postgres-pitr` set: the configuration, the posix
repositories' directories, `stanza-create` in every repository, and the PostgreSQL
settings that archive into them (printed for the operator, or for Ansible, to apply;
`dr backup check` then proves archiving works).

Like the restic kind, nothing else creates a repository: a repository that vanished
must be an error at the next backup, not silently replaced by an empty one. An S3
bucket must exist already (with versioning, or object lock, as the offsite copy needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backups.locks import backup_set_lock
from backups.pgbackrest.config import PosixStorage
from backups.pitr import files
from backups.pitr.context import PitrContext
from backups.pitr.settings import server_settings


def init_set(ctx: PitrContext) -> dict[str, Any]:
    bset = ctx.backup_set
    with backup_set_lock(bset.name):
        session = ctx.session()
        repositories = []
        for index, repository in enumerate(session.settings.repositories, start=1):
            if isinstance(repository.storage, PosixStorage):
                files.working_directory(Path(repository.storage.path), session.owner)
            repositories.append({"repository": index, "location": repository.describe()})
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
