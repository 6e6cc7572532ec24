"""Check the journal's database against an anchor: what a rewrite cannot hide.

- replaced: the database's journal id is not the anchored one (a forged database put in
  place of the real one);
- truncated: the database ends below the anchored seq (the newest events deleted and the
  head moved back);
- rewritten: event `seq` no longer has the anchored hash or MAC (an event at or before
  the anchor edited and the chain recomputed after it);
- forged anchor: the anchor's own MAC does not hold under the journal key.
An edit after the anchor is the chain's to find: its MACs fail without the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.anchors.record import Anchor
from orchestrator.journal import Journal
from orchestrator.text import Text


@dataclass(frozen=True)
class Finding:
    kind: str  # replaced | truncated | rewritten | forged_anchor | other_key
    text: Text

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, **self.text.to_dict()}


def check_against(journal: Journal, anchor: Anchor, where: str) -> list[Finding]:
    """Every way the database departs from `anchor` (read from `where`); [] if none."""
    found = _anchor_itself(journal, anchor, where)
    journal_id = journal.journal_id()
    if journal_id != anchor.journal_id:
        found.append(
            Finding(
                "replaced",
                Text(
                    zh=f"数据库被整体替换：其日志编号为 {journal_id[:12]}，而 {where} 的锚点"
                    f"记录的是 {anchor.journal_id[:12]}。",
                    en=f"the database was replaced: its journal id is {journal_id[:12]}, the "
                    f"anchor in {where} records {anchor.journal_id[:12]}",
                ),
            )
        )
        return found
    head_seq, _ = journal.head()
    link = journal.event_link(anchor.seq) if anchor.seq else None
    if head_seq < anchor.seq or (anchor.seq and link is None):
        found.append(
            Finding(
                "truncated",
                Text(
                    zh=f"最新的事件被删除：数据库止于第 {head_seq} 条事件，而 {where} 的锚点"
                    f"已记录到第 {anchor.seq} 条。",
                    en=f"the newest events were deleted: the database ends at event {head_seq}, "
                    f"the anchor in {where} records event {anchor.seq}",
                ),
            )
        )
        return found
    if link is not None and (
        link[0] != anchor.hash or (anchor.event_mac is not None and link[1] != anchor.event_mac)
    ):
        found.append(
            Finding(
                "rewritten",
                Text(
                    zh=f"历史被改写：第 {anchor.seq} 条事件的哈希与 {where} 的锚点不符，"
                    "说明此前的事件被修改并重算了哈希链。",
                    en=f"history was rewritten: event {anchor.seq} no longer has the hash "
                    f"anchored in {where}; an event up to it was edited and the chain recomputed",
                ),
            )
        )
    return found


def _anchor_itself(journal: Journal, anchor: Anchor, where: str) -> list[Finding]:
    key = journal.key
    if key is None or anchor.mac is None:
        return []
    if anchor.key_id != key.key_id:
        return [
            Finding(
                "other_key",
                Text(
                    zh=f"{where} 的锚点由密钥 {anchor.key_id} 签发，而本机密钥为 {key.key_id}。",
                    en=f"the anchor in {where} was made with key {anchor.key_id}, the key in "
                    f"hand is {key.key_id}",
                ),
            )
        ]
    if not anchor.mac_holds(key):
        return [
            Finding(
                "forged_anchor",
                Text(
                    zh=f"{where} 的锚点认证码不成立：锚点是伪造的。",
                    en=f"the anchor in {where} does not verify under the journal key: it is forged",
                ),
            )
        ]
    return []
