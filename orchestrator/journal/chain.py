"""The hash chain over events: how a link is computed and how the chain is proved.

Each event has a SHA-256 `hash` over the previous hash and its own fields, and, when
the journal has a key (key.py), a `mac`: "hmac-sha256:KEY_ID:HEX", an HMAC of that hash
under a key the database does not hold. The hash alone is tamper-evident only against
accidents (anyone can recompute it); the MAC is what a person with database access but
not the key cannot forge. Events written before a key existed (no `mac`) verify as an
unkeyed prefix; an unkeyed event after a keyed one is a stripped MAC, and fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.journal.key import JournalKey

GENESIS_HASH = "0" * 64
# Separates an event's MAC from an anchor's, made with the same key.
_EVENT_DOMAIN = "dr-journal-event\x00"


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


def event_mac(key: JournalKey, event_hash: str) -> str:
    """The keyed link of an event: it names its algorithm and key, never the key."""
    digest = key.mac(_EVENT_DOMAIN + event_hash)
    return f"hmac-sha256:{key.key_id}:{digest}"


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    checked: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str = ""
    # How far the proof goes: "hmac-sha256" (every event from `keyed_from` on has a MAC
    # that verified under `key_id`), or "sha256" (no MAC was checked: unkeyed events, or
    # no key in hand), which catches accidents, not a person who recomputes the chain.
    algorithm: str = "sha256"
    key_id: str | None = None
    keyed_from: int | None = None
    unkeyed: int = 0
    head_mac: str | None = None

    @property
    def keyed(self) -> bool:
        return self.algorithm == "hmac-sha256"


def verify_events(
    # Any keys: SQLAlchemy's row mappings are keyed by name or column.
    rows: Iterable[Mapping[Any, Any]],
    head: Mapping[Any, Any] | None,
    key: JournalKey | None = None,
) -> ChainVerdict:
    """Walk the events in seq order; name the first one that breaks the chain.

    Catches an edited event (its hash no longer matches), a deleted one (a gap in seq and
    a broken prev_hash), reordering (prev_hash points elsewhere), and a truncated tail
    (the chain head no longer matches the newest event).
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    macs = _MacCheck(key)
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
        problem = macs.check(seq, row["hash"], row.get("mac"))
        if problem:
            return ChainVerdict(False, checked, expected_prev, seq, problem)
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
    return ChainVerdict(
        True,
        checked,
        expected_prev,
        algorithm="hmac-sha256" if macs.keyed_from is not None and key else "sha256",
        key_id=macs.key_id,
        keyed_from=macs.keyed_from,
        unkeyed=macs.unkeyed,
        head_mac=macs.last_mac,
    )


class _MacCheck:
    """The keyed half of the walk: each event's MAC, under the key in hand."""

    def __init__(self, key: JournalKey | None) -> None:
        self.key = key
        self.keyed_from: int | None = None
        self.key_id: str | None = key.key_id if key else None
        self.unkeyed = 0
        self.last_mac: str | None = None

    def check(self, seq: int, event_hash: str, mac: str | None) -> str:
        """'' when the event's MAC holds (or may be absent); else what is wrong."""
        self.last_mac = mac
        if not mac:
            if self.keyed_from is not None:
                return (
                    f"event {seq} has no MAC although event {self.keyed_from} and later ones "
                    "are keyed: its MAC was stripped, the event rewritten"
                )
            self.unkeyed += 1
            return ""
        if self.keyed_from is None:
            self.keyed_from = seq
        algorithm, _, rest = mac.partition(":")
        key_id, _, _digest = rest.partition(":")
        if algorithm != "hmac-sha256":
            return f"event {seq} names an unknown MAC algorithm {algorithm!r}"
        if self.key is None:
            self.key_id = key_id
            return ""
        if key_id != self.key.key_id:
            return (
                f"event {seq} was keyed with key {key_id}, but the key in hand is "
                f"{self.key.key_id}: verify with the journal's own key"
            )
        if event_mac(self.key, event_hash) != mac:
            return (
                f"event {seq}'s MAC does not verify under key {key_id}: the event (or the "
                "chain from it) was rewritten by someone without the key"
            )
        return ""
