"""The places an anchor is written to and read back from.

- S3 with Object Lock: one new object per anchor (never an overwrite), each kept under
  retention, so neither the journal's writers nor the bucket's own key can remove it.
  Keys sort by seq: the newest anchor is the last key under the prefix.
- A file on the backup host, appended over SSH (one JSON line per anchor); the host's
  administrator makes it append-only (`chattr +a`), out of reach of the orchestrator's
  database.
- The notification channel: a short bilingual message with seq and hash, which people
  keep; it is written to, never read back.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from orchestrator.anchors.record import Anchor, newest
from orchestrator.errors import DrError, TransportError, UserInputError
from orchestrator.inventory import resolve_secret
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.inventory.journal_settings import (
        NotifyAnchorPlace,
        S3AnchorPlace,
        SshFileAnchorPlace,
    )
    from orchestrator.journal import Journal
    from orchestrator.transports.ssh import SshTransport

_SSH_TIMEOUT_S = 60.0
_TAIL_LINES = 200


class AnchorPlaceError(DrError):
    """An anchor could not be written to, or read from, one place."""


# ---- S3 ------------------------------------------------------------------------------


def _s3(place: S3AnchorPlace) -> Any:
    from backups.s3_bucket import BucketAccess, client

    access = BucketAccess(
        endpoint_url=place.endpoint,
        bucket=place.bucket,
        region=place.region,
        access_key_id=resolve_secret(place.access_key_id),
        secret_access_key=resolve_secret(place.secret_access_key),
        verify=str(place.ca_file) if place.ca_file else None,
        path_style=place.path_style,
    )
    return client(access)


def s3_key(place: S3AnchorPlace, anchor: Anchor) -> str:
    stamp = anchor.at.replace(":", "").replace("-", "")[:22]
    return f"{place.prefix}{anchor.seq:012d}-{stamp}-{anchor.host}.json"


def write_s3(place: S3AnchorPlace, anchor: Anchor) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    key = s3_key(place, anchor)
    options: dict[str, Any] = {}
    if place.retention is not None:
        until = datetime.now(UTC) + timedelta(days=place.retention.days)
        options = {
            "ObjectLockMode": place.retention.mode.upper(),
            "ObjectLockRetainUntilDate": until,
        }
    try:
        _s3(place).put_object(
            Bucket=place.bucket,
            Key=key,
            Body=anchor.to_json().encode("utf-8"),
            ContentType="application/json",
            **options,
        )
    except (BotoCoreError, ClientError) as err:
        raise AnchorPlaceError(f"S3 bucket {place.bucket!r} at {place.endpoint}: {err}") from None
    return f"s3://{place.bucket}/{key}"


def read_s3(place: S3AnchorPlace) -> Anchor | None:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"S3 bucket {place.bucket!r} at {place.endpoint}"
    try:
        s3 = _s3(place)
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=place.bucket, Prefix=place.prefix
        ):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        if not keys:
            return None
        last = max(keys)
        body = s3.get_object(Bucket=place.bucket, Key=last)["Body"].read().decode("utf-8")
    except (BotoCoreError, ClientError) as err:
        raise AnchorPlaceError(f"{where}: cannot read the anchors: {err}") from None
    return Anchor.parse(body, f"{where}, {last}")


# ---- a file on a host, over SSH --------------------------------------------------------


def _endpoint(place: SshFileAnchorPlace, inventory: Inventory) -> Any:
    from orchestrator.engine.endpoints import standing_endpoint

    return standing_endpoint(inventory.host(place.host), inventory)


def write_ssh_file(
    place: SshFileAnchorPlace, anchor: Anchor, inventory: Inventory, ssh: SshTransport
) -> str:
    path = shlex.quote(place.path)
    folder = shlex.quote(str(PurePosixPath(place.path).parent))
    command = f"umask 077 && mkdir -p {folder} && cat >> {path}"
    try:
        result = ssh.run(
            _endpoint(place, inventory),
            command,
            stdin=anchor.to_json() + "\n",
            timeout=_SSH_TIMEOUT_S,
        )
    except (TransportError, UserInputError) as err:
        raise AnchorPlaceError(f"{place.host}:{place.path}: {err.message}") from None
    if result.exited != 0:
        raise AnchorPlaceError(
            f"{place.host}:{place.path}: appending failed (exit {result.exited}): "
            f"{result.stderr.strip()[:300]}"
        )
    return f"{place.host}:{place.path}"


def read_ssh_file(
    place: SshFileAnchorPlace, inventory: Inventory, ssh: SshTransport
) -> Anchor | None:
    where = f"{place.host}:{place.path}"
    command = f"tail -n {_TAIL_LINES} {shlex.quote(place.path)}"
    try:
        result = ssh.run(_endpoint(place, inventory), command, timeout=_SSH_TIMEOUT_S)
    except (TransportError, UserInputError) as err:
        raise AnchorPlaceError(f"{where}: {err.message}") from None
    if result.exited != 0:
        raise AnchorPlaceError(f"{where}: cannot read it: {result.stderr.strip()[:300]}")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return newest([Anchor.parse(line, where) for line in lines])


# ---- the notification channel ----------------------------------------------------------


def write_notice(
    place: NotifyAnchorPlace, anchor: Anchor, inventory: Inventory, journal: Journal
) -> str:
    from orchestrator.notify import Message, deliver

    recipients = tuple(c.name for c in inventory.contacts if c.role in place.roles)
    if not recipients:
        raise AnchorPlaceError(f"no contact has one of the roles {', '.join(place.roles)}")
    short = anchor.hash[:16]
    message = Message(
        key=f"journal-anchor:{anchor.journal_id}:{anchor.seq}:{anchor.at}",
        level="blue",
        title=Text(zh="日志锚点", en="Journal anchor"),
        body=Text(
            zh=f"日志 {anchor.journal_id[:12]} 截至第 {anchor.seq} 条事件，链头 {short}…"
            f"（{anchor.host}，{anchor.at[:19]}）。请保留本消息以备审计核对。",
            en=f"Journal {anchor.journal_id[:12]} at event {anchor.seq}, head {short}… "
            f"({anchor.host}, {anchor.at[:19]}). Keep this message: auditors check "
            "the journal against it.",
        ),
        recipients=recipients,
        context={"anchor": {"seq": anchor.seq, "hash": anchor.hash}},
    )
    results = deliver(message, inventory, journal)
    if not any(r.ok for r in results):
        errors = "; ".join(f"{r.channel}: {r.error}" for r in results)
        raise AnchorPlaceError(f"no channel delivered the anchor notice ({errors})")
    return ", ".join(r.channel for r in results if r.ok)
