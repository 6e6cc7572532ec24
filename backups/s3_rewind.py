"""Bring a repository in a versioned bucket back to what it held at a moment: after an
attacker (or a bad prune) deleted or overwrote its objects with the database host's key.

That key may write objects and delete them, but not delete object versions (see
`backups.s3_bucket`), so what the attacker did is all still there as versions: a delete
left a delete marker on top of the object, an overwrite a new version on top of the old
one. For every object under the repository's prefix, the rewind compares the version
that was current at the moment with the one current now:
  - the same: nothing to do;
  - only delete markers came after it: they are removed, and it is current again
    (markers are never locked);
  - new versions came after it: it is written again as the newest version (the others,
    locked by Object Lock, cannot be removed, and need not be);
  - the object did not exist then: it is hidden behind a delete marker.
Nothing is destroyed, so a rewind to the wrong moment is undone by another rewind.
The key it runs with needs s3:ListBucketVersions, s3:GetObjectVersion, s3:PutObject,
s3:DeleteObject and s3:DeleteObjectVersion: the backup room's, not the database host's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backups.s3_bucket import BucketAccess, client
from orchestrator.errors import BackupError, UserInputError

_SHOWN = 50
_IN_MEMORY = 64 << 20  # objects up to this size are copied in one request
# Metadata on a version a rewind wrote: the version it is a copy of (so a second rewind
# to the same moment finds nothing to do).
_FROM = "dr-rewound-from"


@dataclass(frozen=True)
class Entry:
    key: str
    version_id: str
    modified: datetime
    is_marker: bool
    is_latest: bool


@dataclass
class RewindResult:
    bucket: str
    prefix: str
    moment: str
    dry_run: bool
    objects: int = 0
    unchanged: int = 0
    markers_removed: int = 0
    rewritten: int = 0
    hidden: int = 0
    changes: list[str] = field(default_factory=list)  # the first few, "ACTION KEY"

    @property
    def changed(self) -> int:
        return self.objects - self.unchanged

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "moment": self.moment,
            "dry_run": self.dry_run,
            "objects": self.objects,
            "unchanged": self.unchanged,
            "markers_removed": self.markers_removed,
            "rewritten": self.rewritten,
            "hidden": self.hidden,
            "changes": self.changes,
        }


def rewind(
    access: BucketAccess, prefix: str, moment: datetime, *, dry_run: bool = False
) -> RewindResult:
    """Every object under `prefix` as it was at `moment` (an aware datetime)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if moment.tzinfo is None:
        raise UserInputError("a rewind moment needs its time zone")
    result = RewindResult(access.bucket, prefix, moment.isoformat(), dry_run)
    s3 = client(access)
    try:
        for key, entries in sorted(_history(s3, access.bucket, prefix).items()):
            result.objects += 1
            _rewind_one(s3, access.bucket, key, entries, moment, result)
    except ClientError as err:
        error = err.response.get("Error", {})
        raise BackupError(
            f"{access.describe()}: the rewind stopped, {result.changed} object(s) changed so "
            f"far: {error.get('Code')}: {error.get('Message')}. A rewind needs a key "
            "with s3:ListBucketVersions, s3:GetObjectVersion, s3:PutObject, s3:DeleteObject "
            "and s3:DeleteObjectVersion (the backup room's); running it again is safe"
        ) from None
    except BotoCoreError as err:
        raise BackupError(f"{access.describe()} cannot be reached: {err}") from None
    return result


def _history(s3: Any, bucket: str, prefix: str) -> dict[str, list[Entry]]:
    """Every version and delete marker under `prefix`, per key, oldest first."""
    found: dict[str, list[Entry]] = defaultdict(list)
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for kind, is_marker in (("Versions", False), ("DeleteMarkers", True)):
            for item in page.get(kind, []):
                entry = Entry(
                    item["Key"], item["VersionId"], item["LastModified"], is_marker,
                    bool(item.get("IsLatest")),
                )  # fmt: skip
                found[item["Key"]].append(entry)
    for entries in found.values():
        # The current one last among equal times: S3 times have a coarse grain.
        entries.sort(key=lambda e: (e.modified, e.is_latest))
    return found


def _rewind_one(
    s3: Any, bucket: str, key: str, entries: list[Entry], moment: datetime, result: RewindResult
) -> None:
    current = next((e for e in entries if e.is_latest), entries[-1])
    earlier = [e for e in entries if e.modified <= moment]
    then = earlier[-1] if earlier else None
    if then is not None and then.version_id == current.version_id:
        result.unchanged += 1
        return
    if then is None or then.is_marker:
        if current.is_marker:
            result.unchanged += 1
            return
        _note(result, "hide", key)
        result.hidden += 1
        if not result.dry_run:
            s3.delete_object(Bucket=bucket, Key=key)
        return
    if not current.is_marker and _written_again_from(s3, bucket, key, current) == then.version_id:
        result.unchanged += 1  # an earlier rewind to the same moment
        return
    later = entries[entries.index(then) + 1 :]
    if all(e.is_marker for e in later):
        _note(result, "undelete", key)
        result.markers_removed += len(later)
        if not result.dry_run:
            for marker in later:
                s3.delete_object(Bucket=bucket, Key=key, VersionId=marker.version_id)
        return
    _note(result, "rewrite", key)
    result.rewritten += 1
    if not result.dry_run:
        _write_again(s3, bucket, key, then.version_id)


def _write_again(s3: Any, bucket: str, key: str, version_id: str) -> None:
    """The old version's bytes as the newest version (a plain PUT carries the checksum
    an Object Lock bucket asks every upload for)."""
    from boto3.s3.transfer import TransferConfig

    body = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"]
    config = TransferConfig(multipart_threshold=_IN_MEMORY, multipart_chunksize=_IN_MEMORY)
    extra = {"Metadata": {_FROM: version_id}}
    s3.upload_fileobj(body, bucket, key, ExtraArgs=extra, Config=config)


def _written_again_from(s3: Any, bucket: str, key: str, current: Entry) -> str | None:
    """The version a rewind copied `current` from, if it is such a copy."""
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=current.version_id)
    return head.get("Metadata", {}).get(_FROM)


def _note(result: RewindResult, action: str, key: str) -> None:
    if len(result.changes) < _SHOWN:
        result.changes.append(f"{action} {key}")
