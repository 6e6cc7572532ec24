"""An anchor: the journal's head, written where its database's writers cannot reach.

{journal_id, seq, hash, event_mac, at, host, algorithm, key_id, mac}: `hash` and
`event_mac` are event `seq`'s own link, `mac` is an HMAC of the rest under the journal
key, so an anchor cannot be forged by whoever can write the anchor's place but lacks the
key. A journal without a key still anchors (algorithm "sha256", no MACs): that catches a
truncated or replaced database, not a forged anchor.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import UserInputError
from orchestrator.journal import Journal
from orchestrator.journal.chain import canonical_json
from orchestrator.journal.key import JournalKey

FORMAT = "dr-journal-anchor/1"
_ANCHOR_DOMAIN = "dr-journal-anchor\x00"


@dataclass(frozen=True)
class Anchor:
    journal_id: str
    seq: int
    hash: str
    event_mac: str | None
    at: str
    host: str
    algorithm: str
    key_id: str | None
    mac: str | None = None
    format: str = FORMAT

    def body(self) -> str:
        """What the MAC covers: every field but the MAC itself."""
        fields = asdict(self)
        del fields["mac"]
        return canonical_json(fields)

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    def mac_holds(self, key: JournalKey) -> bool:
        return self.mac is not None and key.verifies(_ANCHOR_DOMAIN + self.body(), self.mac)

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.seq, self.at)

    @classmethod
    def parse(cls, text: str, where: str) -> Anchor:
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} record")
            return cls(**{k: doc.get(k) for k in cls.__dataclass_fields__})
        except (ValueError, TypeError, AttributeError) as err:
            raise UserInputError(f"{where}: not a journal anchor ({err})") from None


def make_anchor(journal: Journal) -> Anchor:
    """The journal's head now, MACed under its key when it has one."""
    seq, head_hash = journal.head()
    link = journal.event_link(seq) if seq else None
    key = journal.key
    unsigned = Anchor(
        journal_id=journal.journal_id(),
        seq=seq,
        hash=head_hash,
        event_mac=link[1] if link else None,
        at=datetime.now(UTC).isoformat(timespec="microseconds"),
        host=socket.gethostname(),
        algorithm="hmac-sha256" if key else "sha256",
        key_id=key.key_id if key else None,
    )
    if key is None:
        return unsigned
    return Anchor(**{**asdict(unsigned), "mac": key.mac(_ANCHOR_DOMAIN + unsigned.body())})


def newest(anchors: list[Anchor]) -> Anchor | None:
    return max(anchors, key=lambda a: a.sort_key, default=None)


def record_of(anchor: Anchor) -> dict[str, Any]:
    """What the journal records of an anchor it wrote (no MAC is secret, but keep it short)."""
    return {"journal_id": anchor.journal_id, "seq": anchor.seq, "hash": anchor.hash}
