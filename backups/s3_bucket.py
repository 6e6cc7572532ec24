"""An S3 bucket a repository may live in: versioned, with Object Lock where asked, and
reached by a key that can add but not destroy.

`provision` makes the bucket when it is missing (versioning on; Object Lock with its
default retention when a policy is given: it can only be switched on when the bucket is
made, on most S3 services) and otherwise checks it, changing only what differs, so that
a key without rights on the bucket's settings passes when they are already right.
`key_deletes_versions` asks S3 whether the key in hand could delete an object version,
by deleting one that does not exist: refused means the key cannot destroy what it wrote.

The database host's key should be refused: with versioning, a delete it makes only
hides an object behind a delete marker, which `backups.s3_rewind` removes again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.errors import BackupError

LockMode = Literal["COMPLIANCE", "GOVERNANCE"]
_MISSING = {"404", "NoSuchBucket", "NotFound"}
_DENIED = {"403", "AccessDenied", "AllAccessDisabled"}
_NO_LOCK = {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}


@dataclass(frozen=True)
class ObjectLock:
    days: int
    mode: LockMode = "COMPLIANCE"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.lower(), "days": self.days}


@dataclass(frozen=True)
class BucketAccess:
    """How to reach one bucket with one key (values, resolved from references)."""

    endpoint_url: str  # https://HOST[:PORT]
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    # A CA file, False to not check; None: boto3's default (AWS_CA_BUNDLE, else its own).
    verify: bool | str | None = None
    path_style: bool = False

    def describe(self) -> str:
        return f"S3 bucket {self.bucket!r} at {self.endpoint_url}"


def client(access: BucketAccess) -> Any:
    import boto3
    from botocore.config import Config

    style = "path" if access.path_style else "virtual"
    options: dict[str, Any] = {} if access.verify is None else {"verify": access.verify}
    return boto3.client(
        "s3",
        endpoint_url=access.endpoint_url,
        region_name=access.region,
        aws_access_key_id=access.access_key_id,
        aws_secret_access_key=access.secret_access_key,
        **options,
        config=Config(
            s3={"addressing_style": style},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        ),
    )


def provision(access: BucketAccess, lock: ObjectLock | None) -> dict[str, Any]:
    """The bucket made or checked: {"created", "versioning", "object_lock", "append_only"}."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(access)
    try:
        created = not _exists(s3, access)
        if created:
            options: dict[str, Any] = {"Bucket": access.bucket}
            if access.region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": access.region}
            if lock is not None:
                options["ObjectLockEnabledForBucket"] = True
            _ask(lambda: s3.create_bucket(**options), access, "create the bucket")
        versioning = s3.get_bucket_versioning(Bucket=access.bucket).get("Status")
        if versioning != "Enabled":
            _ask(
                lambda: s3.put_bucket_versioning(
                    Bucket=access.bucket, VersioningConfiguration={"Status": "Enabled"}
                ),
                access,
                "turn versioning on",
            )
        found = current_lock(s3, access.bucket)
        if lock is not None and found != lock:
            _set_lock(s3, access, lock, found)
            found = lock
        deletes_versions = key_deletes_versions(s3, access.bucket)
    except ClientError as err:
        raise BackupError(f"{access.describe()}: {err.operation_name}: {_said(err)}") from None
    except BotoCoreError as err:
        raise BackupError(f"{access.describe()} cannot be reached: {err}") from None
    return {
        "bucket": access.bucket,
        "created": created,
        "versioning": "Enabled",
        "object_lock": None if found is None else found.to_dict(),
        # True when this key could not destroy what it wrote (see the module's note).
        "append_only": not deletes_versions,
    }


def current_lock(s3: Any, bucket: str) -> ObjectLock | None:
    """The bucket's default retention, or None when it has none."""
    from botocore.exceptions import ClientError

    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as err:
        if _code(err) in _NO_LOCK:
            return None
        raise
    retention = (config.get("Rule") or {}).get("DefaultRetention")
    if config.get("ObjectLockEnabled") != "Enabled" or not retention:
        return None
    days = int(retention.get("Days") or 0) + 365 * int(retention.get("Years") or 0)
    return ObjectLock(days=days, mode=retention["Mode"])


def key_deletes_versions(s3: Any, bucket: str) -> bool:
    """Whether this key may delete object versions, asked harmlessly: a version of an
    object that does not exist. Refused (403) means it may not."""
    from botocore.exceptions import ClientError

    probe = f"dr-append-only-probe/{secrets.token_hex(8)}"
    try:
        s3.delete_object(Bucket=bucket, Key=probe, VersionId="dr-probe-no-such-version")
    except ClientError as err:
        return _code(err) not in _DENIED
    return True


def _exists(s3: Any, access: BucketAccess) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=access.bucket)
    except ClientError as err:
        if _code(err) in _MISSING:
            return False
        if _code(err) in _DENIED:
            raise BackupError(
                f"{access.describe()}: this key may not see the bucket (403): it belongs to "
                "another account, or the key lacks s3:ListBucket on it"
            ) from None
        raise
    return True


def _set_lock(s3: Any, access: BucketAccess, lock: ObjectLock, found: ObjectLock | None) -> None:
    rule = {"DefaultRetention": {"Mode": lock.mode, "Days": lock.days}}
    was = "none" if found is None else f"{found.mode.lower()} {found.days} days"
    _ask(
        lambda: s3.put_object_lock_configuration(
            Bucket=access.bucket,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": rule},
        ),
        access,
        f"set Object Lock to {lock.mode.lower()} {lock.days} days (the bucket has {was})",
    )


def _ask(call: Callable[[], Any], access: BucketAccess, what: str) -> None:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as err:
        if _code(err) in _DENIED:
            raise BackupError(
                f"{access.describe()}: this key may not {what}. That is right for the "
                "database host's key: ask the storage administrator to do it with the "
                "bucket owner's key (or run `dr backup init` once with it), then run "
                "`dr backup init` again"
            ) from None
        raise BackupError(f"{access.describe()}: cannot {what}: {_said(err)}") from None


def _code(err: Any) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _said(err: Any) -> str:
    error = err.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
