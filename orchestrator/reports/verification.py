"""The journal's verification result, which every report states on its first page."""

from __future__ import annotations

from typing import Any

from orchestrator.journal import Journal
from orchestrator.reports.blocks import Paragraph
from orchestrator.reports.i18n import ReportLang, pick


def verify_journal(journal: Journal) -> dict[str, Any]:
    verdict = journal.verify()
    return {
        "ok": verdict.ok,
        "events_checked": verdict.checked,
        "head_hash": verdict.head_hash,
        "first_bad_seq": verdict.first_bad_seq,
        "reason": verdict.reason,
        "journal": journal.describe(),
    }


def verification_paragraph(result: dict[str, Any], lang: ReportLang) -> Paragraph:
    checked, head = result["events_checked"], result["head_hash"][:16]
    if result["ok"]:
        return Paragraph(
            pick(
                lang,
                f"日志校验：通过。哈希链完整，共校验 {checked} 条事件，链头 {head}…；"
                "本报告中的所有数字均取自该日志。",
                f"Journal verification: PASSED. The hash chain is intact ({checked} events, "
                f"head {head}…); every number in this report comes from this journal.",
            )
        )
    seq, reason = result["first_bad_seq"], result["reason"]
    return Paragraph(
        pick(
            lang,
            f"日志校验：未通过！第 {seq} 条事件起哈希链断裂（{reason}）。"
            "本报告的数字不能作为依据，请先调查日志被篡改或损坏的原因。",
            f"Journal verification: FAILED! The hash chain breaks at event {seq} ({reason}). "
            "The figures below cannot be relied on; investigate the tampering or damage first.",
        ),
        alert=True,
    )
