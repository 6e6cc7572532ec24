"""The reconciliation and the aftermath as reports (zh/en; HTML, PDF, Markdown).

Both lay out the JSON data (`Reconciliation.to_dict`, `Aftermath.to_dict`), so the
JSON a script reads and the page a person reads say the same. `aftermath_blocks` is the
part another report (the lost-transactions report) includes as it is.
"""

from __future__ import annotations

from typing import Any

from orchestrator.inventory import format_duration
from orchestrator.reports.blocks import Block, Document, Facts, Heading, Paragraph, Table
from orchestrator.reports.i18n import ReportLang, pick
from orchestrator.shown_times import shown_time, zone_named

# Long lists are cut in the page (never in the JSON): a person reads the first ones and
# the count; a script reads the JSON.
SHOWN_ROWS = 200

_STATE_WORDS = {
    "generated_not_submitted": ("已生成未上报", "generated, not submitted"),
    "awaiting_feedback": ("已上报待反馈", "submitted, awaiting feedback"),
    "feedback_missing": ("反馈缺失（已超时）", "feedback MISSING (overdue)"),
    "answered": ("已收到反馈", "feedback received"),
    "not_submitted_here": ("反馈无对应上报", "feedback, never submitted here"),
}
_REASON_WORDS = {
    "lost_records": ("含丢失数据", "carries lost rows"),
    "changed_records": ("含变更数据", "carries changed rows"),
    "never_acknowledged": ("未获反馈", "never acknowledged"),
    "rejected": ("有被拒记录", "has rejected records"),
}


def reconcile_layout(data: dict[str, Any], lang: ReportLang) -> Document:
    counts = data["counts"]
    checked = _when(data["checked_at"], data["timezone"])
    blocks: list[Block] = [
        Heading(pick(lang, "概况", "Summary")),
        Facts(
            [
                (pick(lang, "批次", "Batches"), str(counts["batches"])),
                (pick(lang, "记录", "Records"), str(counts["records"])),
                *(
                    (pick(lang, *words), str(counts[state]))
                    for state, words in _STATE_WORDS.items()
                ),
                (pick(lang, "已接受记录", "Accepted records"), str(counts["accepted_records"])),
                (pick(lang, "被拒记录", "Rejected records"), str(counts["rejected_records"])),
                (
                    pick(lang, "反馈时限", "Feedback allowed within"),
                    format_duration(data["feedback_within_s"]),
                ),
                (pick(lang, "时区", "Time zone"), data["timezone"]),
            ]
        ),
        _verdict(data["owed"], lang),
    ]
    blocks += _warnings(data["warnings"], lang)
    if data["rejected_records"]:
        blocks += [
            Heading(
                pick(
                    lang,
                    "被拒记录（更正后立即补报，第二十一条）",
                    "Rejected records (correct and re-submit at once, art. 21)",
                )
            ),
            _table(
                [
                    pick(lang, "批次", "Batch"),
                    pick(lang, "记录", "Record"),
                    pick(lang, "原因代码", "Code"),
                    pick(lang, "原因", "Reason"),
                ],
                [
                    [
                        r["batch_id"],
                        f"{r['kind']} {r['key']}",
                        r["reason_code"] or "",
                        r["reason"] or "",
                    ]
                    for r in data["rejected_records"]
                ],
                lang,
            ),
        ]
    owed = [b for b in data["batches"] if b["owed"]]
    if owed:
        blocks += [Heading(pick(lang, "待处理批次", "Batches with something owed"))]
        blocks.append(_batch_table(owed, lang, data["timezone"]))
    blocks += [
        Heading(pick(lang, "全部批次", "All batches")),
        _batch_table(data["batches"], lang, data["timezone"]),
    ]
    return Document(
        title=pick(lang, "征信报文对账报告", "Credit-report message reconciliation"),
        subtitle=pick(
            lang,
            f"核对时间 {checked}（{data['timezone']}）",
            f"Checked at {checked} ({data['timezone']})",
        ),
        verification=_source(data["source"], lang),
        blocks=blocks,
    )


def aftermath_blocks(data: dict[str, Any], lang: ReportLang) -> list[Block]:
    """The aftermath's part of a report: what to regenerate, re-submit, chase."""
    blocks: list[Block] = [Heading(pick(lang, "征信报文善后", "Report messages to redo"))]
    blocks.append(
        Facts(
            [
                (
                    pick(lang, "需重新生成的批次", "Batches to regenerate"),
                    str(len(data["regenerate"])),
                ),
                (
                    pick(lang, "需重新上报的批次", "Batches to re-submit"),
                    str(len(data["resubmit"])),
                ),
                (
                    pick(lang, "反馈缺失的批次", "Batches with feedback missing"),
                    str(len(data["feedback_missing"])),
                ),
                (
                    pick(lang, "待反馈的批次", "Batches awaiting feedback"),
                    str(len(data["awaiting_feedback"])),
                ),
                (
                    pick(lang, "未入批次的丢失记录", "Lost rows in no batch"),
                    str(len(data["unbatched_lost"])),
                ),
            ]
        )
    )
    if not data["owed"]:
        blocks.append(Paragraph(pick(lang, "无需重做的报文。", "No report message needs redoing.")))
    for key, title in (
        (
            "regenerate",
            ("需重新生成（源数据丢失或变更）", "Regenerate (source data lost or changed)"),
        ),
        ("resubmit", ("需重新上报", "Re-submit")),
    ):
        if data[key]:
            blocks += [Heading(pick(lang, *title), level=3), _affected_table(data[key], lang)]
    if data["feedback_missing"]:
        blocks += [
            Heading(
                pick(lang, "反馈缺失（向征信中心查询）", "Feedback missing (ask the centre)"),
                level=3,
            ),
            Paragraph(", ".join(data["feedback_missing"][:SHOWN_ROWS]), alert=True),
        ]
    if data["unbatched_lost"]:
        blocks += [
            Heading(
                pick(
                    lang,
                    "未入批次的丢失记录（数据已不存在，勿按原记录生成报文；补录后随常规报文上报）",
                    "Lost rows in no batch (the rows are gone: generate no message from "
                    "them; after re-entry they are reported as usual)",
                ),
                level=3,
            ),
            _table(
                [pick(lang, "记录", "Record"), pick(lang, "数据时间", "Row time")],
                [
                    [f"{r['kind']} {r['key']}", _when(r["row_at"], data.get("timezone"))]
                    for r in data["unbatched_lost"]
                ],
                lang,
            ),
        ]
    return blocks


def aftermath_layout(data: dict[str, Any], lang: ReportLang) -> Document:
    computed = _when(data["computed_at"], data.get("timezone"))
    return Document(
        title=pick(lang, "恢复后征信报文善后清单", "Report messages after a recovery"),
        subtitle=pick(lang, f"计算时间 {computed}", f"Computed at {computed}"),
        verification=_source(data.get("source", {}), lang),
        blocks=aftermath_blocks(data, lang),
    )


def _affected_table(rows: list[dict[str, Any]], lang: ReportLang) -> Table:
    def records(row: dict[str, Any]) -> str:
        named = [f"{r['kind']} {r['key']}" for r in row["lost"] + row["changed"]]
        named += row["rejected"]
        return ", ".join(named[:10]) + (f" … (+{len(named) - 10})" if len(named) > 10 else "")

    return _table(
        [
            pick(lang, "批次", "Batch"),
            pick(lang, "状态", "State"),
            pick(lang, "原因", "Why"),
            pick(lang, "涉及记录", "Records"),
        ],
        [
            [
                row["batch_id"],
                pick(lang, *_STATE_WORDS[row["state"]]),
                "; ".join(pick(lang, *_REASON_WORDS[r]) for r in row["reasons"]),
                records(row),
            ]
            for row in rows
        ],
        lang,
    )


def _batch_table(batches: list[dict[str, Any]], lang: ReportLang, zone: str) -> Table:
    return _table(
        [
            pick(lang, "批次", "Batch"),
            pick(lang, "记录数", "Records"),
            pick(lang, "生成", "Generated"),
            pick(lang, "上报", "Submitted"),
            pick(lang, "状态", "State"),
            pick(lang, "接受/拒绝", "Accepted/rejected"),
            pick(lang, "问题", "Problems"),
        ],
        [
            [
                b["batch_id"],
                str(b["records"]),
                f"{_when(b['generated_at'], zone)} {b['generated_by'] or ''}",
                f"{_when(b['submitted_at'], zone)} {b['submitted_by'] or ''}",
                pick(lang, *_STATE_WORDS[b["state"]]),
                "—" if b["accepted"] is None else f"{b['accepted']}/{len(b['rejected'])}",
                "; ".join(b["problems"]),
            ]
            for b in batches
        ],
        lang,
    )


def _when(moment: str | None, zone: str | None) -> str:
    """An ISO time as the institution reads it: its own zone, to the second, the zone
    said."""
    if moment is None:
        return "—"
    return shown_time(moment, zone_named(zone))


def _table(columns: list[str], rows: list[list[str]], lang: ReportLang) -> Table:
    if len(rows) > SHOWN_ROWS:
        more = len(rows) - SHOWN_ROWS
        cut = [pick(lang, f"……另有 {more} 行见 JSON", f"… {more} more rows in the JSON")]
        rows = [*rows[:SHOWN_ROWS], cut + [""] * (len(columns) - 1)]
    return Table(columns, rows)


def _verdict(owed: bool, lang: ReportLang) -> Paragraph:
    if owed:
        return Paragraph(
            pick(lang, "结论：有待处理事项（见下）。", "Verdict: something is owed (below)."),
            alert=True,
        )
    return Paragraph(pick(lang, "结论：账实相符，无待处理事项。", "Verdict: clean, nothing owed."))


def _warnings(warnings: list[dict[str, Any]], lang: ReportLang) -> list[Block]:
    if not warnings:
        return []
    return [
        Heading(pick(lang, "A/B角警告（第二十八条）", "Role warnings (art. 28)")),
        *(Paragraph(w[lang], alert=True) for w in warnings),
    ]


def _source(source: dict[str, str], lang: ReportLang) -> Paragraph:
    places = "; ".join(f"{role}: {where}" for role, where in source.items()) or "—"
    return Paragraph(
        pick(
            lang,
            f"数据来源：报文生成系统的报文目录（{places}），非 dr 日志。",
            f"Source: the credit system's message directories ({places}), not dr's journal.",
        )
    )
