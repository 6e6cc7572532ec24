"""The IAM policies that keep an S3 repository out of a compromised host's reach, as JSON
documents for the storage administrator (`dr backup init` prints the host's).

- The database host's key (pgBackRest's archive_command and backups, restic on the
  host) may list, read, write and delete objects under the repository's prefix. On a
  versioned bucket a delete only lays a delete marker over the object; the versions
  themselves it may not delete, nor may it touch the bucket's versioning, Object Lock,
  lifecycle, policy or the objects' retention: those are denied outright, so that no
  other grant can give them back.
- The backup room's recovery key may also list and read old versions and delete
  markers, for `backups.s3_rewind`.
pgBackRest's expire and restic's prune and lock removal work with the host's key, as
delete markers; Object Lock keeps the versions beneath them for its days.
"""

from __future__ import annotations

import json
from typing import Any

# Never to the database host, whatever else it is granted.
HOST_DENIED = (
    "s3:DeleteObjectVersion",
    "s3:DeleteBucket",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
)
_BUCKET_READ = (
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:GetBucketObjectLockConfiguration",
    "s3:ListBucketMultipartUploads",
)
_OBJECT_WRITE = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
_RECOVERY_EXTRA = ("s3:ListBucketVersions", "s3:GetObjectVersion", "s3:DeleteObjectVersion")


def database_host_policy(bucket: str, prefix: str = "") -> dict[str, Any]:
    """What the host whose data the repository protects may do, and may never do."""
    objects = _objects(bucket, prefix)
    return _document(
        [
            _statement("Allow", _BUCKET_READ, [f"arn:aws:s3:::{bucket}"]),
            _statement("Allow", _OBJECT_WRITE, [objects]),
            _statement("Deny", HOST_DENIED, [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]),
        ]
    )


def recovery_policy(bucket: str, prefix: str = "") -> dict[str, Any]:
    """The backup room's key: everything a rewind needs (and no bucket settings)."""
    return _document(
        [
            _statement(
                "Allow", (*_BUCKET_READ, "s3:ListBucketVersions"), [f"arn:aws:s3:::{bucket}"]
            ),
            _statement("Allow", (*_OBJECT_WRITE, *_RECOVERY_EXTRA), [_objects(bucket, prefix)]),
        ]
    )


def as_json(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2)


def _objects(bucket: str, prefix: str) -> str:
    return f"arn:aws:s3:::{bucket}/{prefix.strip('/') + '/' if prefix.strip('/') else ''}*"


def _statement(effect: str, actions: tuple[str, ...], resources: list[str]) -> dict[str, Any]:
    return {"Effect": effect, "Action": list(actions), "Resource": resources}


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}
