"""`dr backup init SET`: create the set's repositories (and S3 buckets, versioned).

Never done implicitly by `run`: a repository that has vanished (a disk not mounted, a
bucket emptied) must be an error, not silently replaced by a new empty one.
"""

from __future__ import annotations

from typing import Any

from backups.context import BackupContext
from backups.locks import backup_set_lock


def init_set(ctx: BackupContext) -> dict[str, Any]:
    created: dict[str, Any] = {}
    with backup_set_lock(ctx.backup_set.name):
        main = ctx.session()
        created["repository"] = _init_one(main, chunker_source=None)
        copy = ctx.copy_session()
        if copy is not None:
            created["copy_to"] = _init_one(copy, chunker_source=main.repository)
        ctx.record("backup.initialized", created)
    return created


def _init_one(session: Any, *, chunker_source: Any) -> dict[str, Any]:
    repository = session.repository
    bucket_created = repository.provision_bucket()
    existed = session.exists()
    if not existed:
        session.init(chunker_source=chunker_source)
    return {
        "location": repository.location,
        "created": not existed,
        "bucket_created": bucket_created,
        "versioning": repository.bucket_versioning() if repository.kind == "s3" else None,
    }
