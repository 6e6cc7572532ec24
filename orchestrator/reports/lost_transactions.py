"""`dr report lost-transactions RUN`: the branches' re-entry (补录) list.

What a rebuild (or a restore) found that only the old timeline held, from the run's
journaled `lost_transactions` records (runbooks/_lost_transactions.py): per branch,
each loan and repayment with its amount and time, for the branch to re-enter from its
own records and the credit-system administrator to report again; rows changed on one
side after the split, for checking; and what the comparison covered. Times are shown
in the zone of the inventory given with -i, else of the one the run was started with,
labelled with its offset (orchestrator/shown_times.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, tzinfo
from typing import Any

from orchestrator.errors import DrError, UserInputError
from orchestrator.inventory import Inventory
from orchestrator.journal import Journal
from orchestrator.journal.run_document import run_document
from orchestrator.postgresql.timeline_diff import RECORD_KIND, TimelineDiff, TimelineRow
from orchestrator.reports.blocks import Document, Facts, Heading, Paragraph, Table
from orchestrator.reports.i18n import ReportLang, pick
from orchestrator.reports.verification import verification_paragraph, verify_journal
from orchestrator.shown_times import run_zone, shown_column, shown_time, zone_named, zone_of

_REASONS = {
    "missing": ("新主库无此笔", "not on the new primary"),
    "replaced": ("编号已被新交易占用", "its id now names a later write"),
    "changed": ("一方在分叉后修改过", "changed on one side after the split"),
}


def build(journal: Journal, run_id: str, inventory: Inventory | None = None) -> dict[str, Any]:
    run = run_document(journal, run_id)
    records = [e.data for e in journal.events(run_id, kinds=(RECORD_KIND,))]
    if not records:
        raise UserInputError(
            f"run {run_id} ({run['runbook']}) made no lost-transactions list: rebuild-standby "
            "makes one before it rewinds an old primary whose pair names its business tables "
            "(host_pairs[].transactions)"
        )
    return {
        "report": "lost-transactions",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timezone": str(zone_of(inventory) if inventory is not None else run_zone(run)),
        "verification": verify_journal(journal),
        "run": {k: run[k] for k in ("id", "runbook", "mode", "status", "started_at")},
        "lists": records,
        "messages": _messages(inventory, records),
    }


def _messages(inventory: Inventory | None, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The report messages (报文) to regenerate and re-submit because of these rows,
    from the inventory's message directories (`credit_reporting:`), when it has them."""
    if inventory is None or inventory.credit_reporting is None:
        return {"checked": False, "reason": "no inventory with a credit_reporting: section"}
    from orchestrator.credit.aftermath import split_lost_and_changed
    from orchestrator.credit.for_inventory import aftermath_for_inventory

    lost, changed = split_lost_and_changed({"lists": [r for r in records if "rows" in r]})
    try:
        found = aftermath_for_inventory(inventory, lost, changed)
    except DrError as err:
        # The list stands without it: the branches re-enter from it either way.
        return {"checked": False, "reason": err.message}
    return {"checked": True, **found.to_dict()}


def layout(data: dict[str, Any], lang: ReportLang) -> Document:
    run = data["run"]
    zone = zone_named(data["timezone"])
    doc = Document(
        title=pick(lang, "丢失交易补录清单", "Lost transactions: the re-entry list"),
        subtitle=pick(
            lang,
            f"运行记录号 {run['id']}（{run['runbook']}），时间为 {data['timezone']} 时区",
            f"Run {run['id']} ({run['runbook']}); times in {data['timezone']}",
        ),
        verification=verification_paragraph(data["verification"], lang),
    )
    for record in data["lists"]:
        doc.blocks.extend(_record_blocks(record, zone, lang))
    messages = data.get("messages") or {"checked": False, "reason": "-"}
    if messages["checked"]:
        from orchestrator.credit.report import aftermath_blocks

        doc.blocks.extend(aftermath_blocks(messages, lang))
    else:
        doc.blocks.append(
            Paragraph(
                pick(
                    lang,
                    f"未核对征信报文：{messages['reason']}。请运行 dr credit aftermath。",
                    f"Report messages not checked: {messages['reason']}. Run "
                    "`dr credit aftermath`.",
                )
            )
        )
    return doc


def _record_blocks(record: dict[str, Any], zone: tzinfo, lang: ReportLang) -> list[Any]:
    pair, old = record.get("pair", "?"), record.get("old_primary", "?")
    blocks: list[Any] = [
        Heading(pick(lang, f"双机 {pair}：旧主库 {old}", f"Pair {pair}: old primary {old}"))
    ]
    if "skipped" in record:
        blocks.append(
            Paragraph(
                pick(
                    lang,
                    f"未列出旧主库独有的交易：{record['skipped']}。重建已丢弃这些交易，"
                    "请以网点手工记录核对。",
                    f"The writes only the old primary held were not listed: "
                    f"{record['skipped']}. The rebuild discarded them; check the branches' "
                    "own records.",
                ),
                alert=True,
            )
        )
        return blocks
    diff = TimelineDiff.from_dict(record)
    lost = diff.lost
    total = diff.lost_amount
    compared = ", ".join(f"{kind} {count}" for kind, count in sorted(diff.compared.items()))
    since = ", ".join(f"{kind} {shown_time(at, zone)}" for kind, at in sorted(diff.since.items()))
    blocks.append(
        Facts(
            [
                (pick(lang, "新主库", "New primary"), str(record.get("new_primary", "?"))),
                (pick(lang, "丢失交易笔数", "Lost writes"), str(len(lost))),
                (pick(lang, "丢失金额合计", "Lost amount in all"), str(total)),
                (pick(lang, "比对笔数", "Rows compared"), compared or "0"),
                (pick(lang, "比对起点", "Compared from"), since),
            ]
        )
    )
    if not lost:
        blocks.append(
            Paragraph(
                pick(
                    lang,
                    "新主库拥有旧主库确认的全部交易，无需补录。",
                    "The new primary holds every write the old one acknowledged: nothing "
                    "to re-enter.",
                )
            )
        )
    for branch, rows in diff.by_branch().items():
        counts = Counter(row.kind for row in rows)
        summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        name = branch or pick(lang, "（未标明网点）", "(no branch)")
        blocks.append(
            Heading(pick(lang, f"网点 {name}：{summary}", f"Branch {name}: {summary}"), level=3)
        )
        blocks.append(_rows_table(rows, zone, lang))
    if diff.changed:
        blocks.append(
            Heading(
                pick(lang, "分叉后被修改的记录（请核对）", "Rows changed after the split (check)"),
                level=3,
            )
        )
        blocks.append(_rows_table(diff.changed, zone, lang))
    return blocks


def _rows_table(rows: list[TimelineRow], zone: tzinfo, lang: ReportLang) -> Table:
    label, times = shown_column([row.at for row in rows], zone)
    return Table(
        columns=[
            pick(lang, "类型", "Kind"),
            pick(lang, "编号", "Id"),
            pick(lang, f"时间（{label}）", f"Time ({label})"),
            pick(lang, "金额", "Amount"),
            pick(lang, "网点", "Branch"),
            pick(lang, "说明", "Note"),
        ],
        rows=[
            [
                row.kind,
                row.key,
                when,
                "" if row.amount is None else str(row.amount),
                row.branch or "",
                pick(lang, *_REASONS[row.reason]),
            ]
            for row, when in zip(rows, times, strict=True)
        ],
    )
