"""The S3 buckets of a `postgres-pitr` set's repositories, as `backups.s3_bucket` reaches them:
with the set's own keys (the database host's) for `dr backup init`, or with another key
(the backup room's) for `dr backup rewind`."""

from __future__ import annotations

from typing import Any

from backups.s3_bucket import BucketAccess, ObjectLock
from orchestrator.inventory import PitrBackupSet, SecretRef, resolve_secret
from orchestrator.inventory.object_lock import ObjectLockPolicy
from orchestrator.inventory.pitr_sets import PitrS3Repository


def s3_repositories(bset: PitrBackupSet) -> list[tuple[int, PitrS3Repository]]:
    """The set's S3 repositories with their numbers (repo1, repo2, ...)."""
    return [
        (index, repo)
        for index, repo in enumerate(bset.repositories, start=1)
        if isinstance(repo, PitrS3Repository)
    ]


def bucket_access(
    repo: PitrS3Repository,
    *,
    access_key_id: SecretRef | None = None,
    secret_access_key: SecretRef | None = None,
) -> BucketAccess:
    """The repository's bucket, with its own keys unless others are given."""
    verify: bool | str = str(repo.ca_file) if repo.ca_file is not None else repo.verify_tls
    return BucketAccess(
        endpoint_url=f"https://{repo.endpoint}",
        bucket=repo.bucket,
        region=repo.region,
        access_key_id=resolve_secret(access_key_id or repo.access_key_id),
        secret_access_key=resolve_secret(secret_access_key or repo.secret_access_key),
        verify=verify,
        path_style=repo.uri_style == "path",
    )


def object_lock_of(repo: PitrS3Repository) -> ObjectLock | None:
    """The Object Lock the inventory asks of the repository's bucket (`object_lock:`)."""
    # Read by name: the field is PitrS3Repository.object_lock (ObjectLockPolicy | None).
    policy: Any = getattr(repo, "object_lock", None)
    if not isinstance(policy, ObjectLockPolicy):
        return None
    return ObjectLock(
        days=policy.days, mode="COMPLIANCE" if policy.mode == "compliance" else "GOVERNANCE"
    )


def repository_prefix(repo: PitrS3Repository) -> str:
    """The key prefix the repository's objects live under ("" for the bucket's root)."""
    path = repo.path.strip("/")
    return f"{path}/" if path else ""
