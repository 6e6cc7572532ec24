"""The journal's verification result, which every report states on its first page.

A report is printed only from a journal that verifies: a broken chain (an edited,
removed or re-keyed event) refuses the report with JournalUnverified (exit code 5), as
does a step or measurement row that differs from its chained event (chained_rows.py).
The paragraph says how far the proof goes: keyed (HMAC under the host's journal key),
or SHA-256 only, which catches accidents but not a person who recomputes the chain.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import JournalUnverified
from orchestrator.journal import Journal
from orchestrator.reports.blocks import Paragraph
from orchestrator.reports.i18n import ReportLang, pick


def verify_journal(journal: Journal) -> dict[str, Any]:
    verdict = journal.verify()
    if not verdict.ok:
        raise JournalUnverified(
            f"the journal does not verify: event {verdict.first_bad_seq}: {verdict.reason}. "
            "No report is printed from it; run `dr journal verify` and investigate. / "
            f"日志校验未通过（第 {verdict.first_bad_seq} 条事件），拒绝生成报告；"
            "请运行 `dr journal verify` 并调查。"
        )
    return {
        "ok": verdict.ok,
        "events_checked": verdict.checked,
        "head_hash": verdict.head_hash,
        "first_bad_seq": verdict.first_bad_seq,
        "reason": verdict.reason,
        "algorithm": verdict.algorithm,
        "key_id": verdict.key_id,
        "keyed_from": verdict.keyed_from,
        "journal": journal.describe(),
    }


def verification_paragraph(result: dict[str, Any], lang: ReportLang) -> Paragraph:
    checked, head = result["events_checked"], result["head_hash"][:16]
    if result.get("algorithm") == "hmac-sha256":
        return Paragraph(
            pick(
                lang,
                f"日志校验：通过。哈希链完整且每条事件的密钥认证码（HMAC-SHA256，密钥 "
                f"{result['key_id']}）均校验通过，共 {checked} 条事件，链头 {head}…；"
                "本报告中的所有数字均取自该日志。",
                f"Journal verification: PASSED. The hash chain is intact and every event's "
                f"keyed MAC (HMAC-SHA256, key {result['key_id']}) verifies ({checked} events, "
                f"head {head}…); every number in this report comes from this journal.",
            )
        )
    return Paragraph(
        pick(
            lang,
            f"日志校验：通过（仅 SHA-256，无密钥）。哈希链完整，共校验 {checked} 条事件，"
            f"链头 {head}…；仅能发现意外损坏，不能发现有数据库权限者重算哈希链的篡改。",
            f"Journal verification: PASSED (SHA-256 only, unkeyed). The hash chain is intact "
            f"({checked} events, head {head}…); this catches accidents, not a person with "
            "database access who recomputes the chain.",
        )
    )
