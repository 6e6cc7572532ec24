"""The hash chain over events: how a link is computed and how the chain is proved."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """One spelling per value, so a hash computed today verifies in ten years."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """SHA-256 of the previous hash and every field of the event that carries meaning."""
    body = canonical_json(
        {
            "seq": event["seq"],
            "run_id": event["run_id"],
            "at": event["at"],
            "kind": event["kind"],
            "step_id": event["step_id"],
            "host": event["host"],
            "actor": event["actor"],
            "data": event["data"],
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str = ""


def verify_events(
    # Any keys: SQLAlchemy's row mappings are keyed by name or column.
    rows: Iterable[Mapping[Any, Any]],
    head: Mapping[Any, Any] | None,
) -> ChainVerdict:
    """Walk the events in seq order; name the first one that breaks the chain.

    Catches an edited event (its hash no longer matches), a deleted one (a gap in seq and
    a broken prev_hash), reordering (prev_hash points elsewhere), and a truncated tail
    (the chain head no longer matches the newest event).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            return ChainVerdict(
                False,
                checked,
                expected_prev,
                seq,
                f"event {seq} follows event {expected_seq - 1}: "
                f"event {expected_seq} is missing or the order was changed",
            )
        if row["prev_hash"] != expected_prev:
            return ChainVerdict(
                False,
                checked,
                expected_prev,
                seq,
                f"event {seq} does not link to event {seq - 1} (prev_hash differs): "
                "an earlier event was changed, removed or moved",
            )
        if link_hash(expected_prev, row) != row["hash"]:
            return ChainVerdict(
                False,
                checked,
                expected_prev,
                seq,
                f"event {seq} was altered after it was written (its hash does not match)",
            )
        expected_prev = row["hash"]
        expected_seq += 1
        checked += 1
    head_seq = head["seq"] if head else 0
    head_hash = head["hash"] if head else GENESIS_HASH
    if head_seq != checked or head_hash != expected_prev:
        return ChainVerdict(
            False,
            checked,
            expected_prev,
            checked + 1 if head_seq > checked else head_seq,
            f"the chain head records event {head_seq} but the journal ends at event "
            f"{checked}: events at the end were removed or the head was altered",
        )
    return ChainVerdict(True, checked, expected_prev)
