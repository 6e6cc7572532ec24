"""`restic forget`: by policy (`--dry-run --json`, to decide) and by id (to remove)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from backups.restic.snapshots import Snapshot, parse_snapshot, parse_time

# Inventory retention key -> restic option, in restic's own order.
POLICY_OPTIONS = {
    "keep_last": "--keep-last",
    "keep_hourly": "--keep-hourly",
    "keep_daily": "--keep-daily",
    "keep_weekly": "--keep-weekly",
    "keep_monthly": "--keep-monthly",
    "keep_yearly": "--keep-yearly",
}


@dataclass(frozen=True)
class ForgetGroup:
    keep: tuple[Snapshot, ...]
    remove: tuple[Snapshot, ...]
    reasons: dict[str, tuple[str, ...]]  # snapshot id -> why it is kept ("daily snapshot")


def build_forget_policy(policy: dict[str, int], tags: list[str]) -> list[str]:
    """Ask which snapshots `policy` keeps; changes nothing (--dry-run)."""
    options = [
        arg
        for key, flag in POLICY_OPTIONS.items()
        if policy.get(key) is not None
        for arg in (flag, str(policy[key]))
    ]
    if not options:
        raise ValueError("a retention policy needs at least one keep_* rule")
    return ["forget", "--json", "--dry-run", "--tag", ",".join(tags), *options]


def build_forget_ids(snapshot_ids: list[str]) -> list[str]:
    if not snapshot_ids:
        raise ValueError("no snapshot ids to forget")
    return ["forget", "--", *snapshot_ids]


def parse_forget(output: str) -> list[ForgetGroup]:
    data = json.loads(output or "[]")
    return [_group(item) for item in data or []]


def _group(item: dict[str, Any]) -> ForgetGroup:
    keep = tuple(parse_snapshot(s) for s in item.get("keep") or ())
    # 0.14's reasons carry the snapshot without its id: match kept snapshots by time.
    id_by_time = {s.time: s.id for s in keep}
    reasons = {}
    for reason in item.get("reasons") or ():
        shown = reason.get("snapshot") or {}
        snapshot_id = shown.get("id") or id_by_time.get(parse_snapshot_time(shown))
        if snapshot_id:
            reasons[str(snapshot_id)] = tuple(reason.get("matches") or ())
    return ForgetGroup(
        keep=keep,
        remove=tuple(parse_snapshot(s) for s in item.get("remove") or ()),
        reasons=reasons,
    )


def parse_snapshot_time(shown: dict[str, Any]) -> Any:
    return parse_time(str(shown["time"])) if "time" in shown else None
