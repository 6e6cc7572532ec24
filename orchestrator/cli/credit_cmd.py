"""`dr credit reconcile|aftermath`: the report messages (报文) against the centre's feedback.

Exit codes: 0 nothing owed, 1 something owed (unsubmitted, feedback missing, rejected
records, files that contradict each other, messages to redo), 2 bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from orchestrator.cli.console import console, error_console
from orchestrator.cli.options import InventoryOption, JsonOption, LangOption, language
from orchestrator.errors import EXIT_FAILED, UserInputError
from orchestrator.inventory import load_inventory
from orchestrator.reports.i18n import ReportLang, pick

if TYPE_CHECKING:
    from orchestrator.reports.blocks import Document

app = typer.Typer(
    help="Report messages to the credit centre (征信报文): reconcile, and what to redo "
    "after a recovery.",
    no_args_is_help=True,
)

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="Write a report: html, pdf or md (--json for the data).",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the report here (a PDF needs it).", show_default=False),
]


@app.command()
def reconcile(
    inventory: InventoryOption,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
    out: OutOption = None,
    lang: LangOption = None,
) -> None:
    """Batches generated, submitted, answered, rejected or missing feedback (art. 29)."""
    from orchestrator.credit.for_inventory import reconcile_inventory
    from orchestrator.credit.report import reconcile_layout

    chosen = language(lang)
    result = reconcile_inventory(load_inventory(inventory))
    data = result.to_dict()
    for warning in result.warnings:
        error_console.print(
            Text(f"warning: {warning.text(chosen)}", style="yellow"), soft_wrap=True
        )
    _emit(data, as_json, fmt, out, chosen, reconcile_layout, _reconcile_summary)
    if result.owed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def aftermath(
    inventory: InventoryOption,
    lost: Annotated[
        Path,
        typer.Option(
            "--lost",
            help="JSON: the lost rows, a list of {kind or table, key, at, branch, amount}; or "
            "an object with `lost` and `changed` lists; or the lost-transactions record or "
            "`dr report lost-transactions -f json` (rows split by their reason).",
        ),
    ],
    changed: Annotated[
        Path | None,
        typer.Option(
            "--changed", help="JSON: rows the recovery changed, same shape.", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
    fmt: FormatOption = None,
    out: OutOption = None,
    lang: LangOption = None,
) -> None:
    """After a recovery: batches to regenerate and re-submit, feedback missing."""
    from orchestrator.credit.for_inventory import aftermath_for_inventory
    from orchestrator.credit.report import aftermath_layout

    chosen = language(lang)
    lost_rows, changed_rows = _rows_file(lost)
    if changed is not None:
        changed_rows = [*changed_rows, *_rows_file(changed)[0]]
    result = aftermath_for_inventory(load_inventory(inventory), lost_rows, changed_rows)
    _emit(result.to_dict(), as_json, fmt, out, chosen, aftermath_layout, _aftermath_summary)
    if result.owed:
        raise typer.Exit(EXIT_FAILED)


def _emit(
    data: dict[str, Any],
    as_json: bool,
    fmt: str | None,
    out: Path | None,
    lang: ReportLang,
    layout: Callable[[dict[str, Any], ReportLang], Document],
    summary: Callable[[dict[str, Any], ReportLang], list[str]],
) -> None:
    from orchestrator.reports.render import report_format, write_report

    if as_json and fmt is not None:
        raise UserInputError("give --json or --format, not both")
    if fmt is not None:
        chosen = report_format(fmt)
        if chosen == "json":
            as_json = True
        else:
            write_report(data, layout, chosen, lang, out)
            return
    if as_json:
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        if out is None:
            sys.stdout.write(text)
        else:
            from orchestrator.private_files import write_atomically

            write_atomically(out, text)
        return
    for line in summary(data, lang):
        console.print(Text(line), soft_wrap=True)


def _reconcile_summary(data: dict[str, Any], lang: ReportLang) -> list[str]:
    c = data["counts"]
    lines = [
        pick(
            lang,
            f"{c['batches']} 个批次、{c['records']} 条记录：已生成未上报 "
            f"{c['generated_not_submitted']}，待反馈 {c['awaiting_feedback']}，反馈缺失 "
            f"{c['feedback_missing']}，已反馈 {c['answered']}（接受 {c['accepted_records']} "
            f"条，拒绝 {c['rejected_records']} 条）",
            f"{c['batches']} batches, {c['records']} records: generated-not-submitted "
            f"{c['generated_not_submitted']}, awaiting feedback {c['awaiting_feedback']}, "
            f"feedback missing {c['feedback_missing']}, answered {c['answered']} "
            f"({c['accepted_records']} accepted, {c['rejected_records']} rejected)",
        )
    ]
    for batch in data["batches"]:
        if batch["owed"]:
            problems = "; ".join(batch["problems"])
            lines.append(
                f"  {batch['batch_id']}: {batch['state']}" + (f" — {problems}" if problems else "")
            )
    for record in data["rejected_records"]:
        lines.append(
            f"  {pick(lang, '被拒', 'rejected')} {record['batch_id']} {record['kind']} "
            f"{record['key']}: {record['reason_code']} {record['reason']}"
        )
    lines.append(
        pick(lang, "有待处理事项", "something is owed")
        if data["owed"]
        else pick(lang, "无待处理事项", "clean: nothing owed")
    )
    return lines


def _aftermath_summary(data: dict[str, Any], lang: ReportLang) -> list[str]:
    lines = []
    for key, words in (
        ("regenerate", ("需重新生成", "regenerate")),
        ("resubmit", ("需重新上报", "re-submit")),
    ):
        for batch in data[key]:
            lines.append(f"{pick(lang, *words)} {batch['batch_id']}: {', '.join(batch['reasons'])}")
    for batch_id in data["feedback_missing"]:
        lines.append(f"{pick(lang, '反馈缺失', 'feedback missing')} {batch_id}")
    if data["unbatched_lost"]:
        lines.append(
            pick(
                lang,
                f"{len(data['unbatched_lost'])} 条丢失记录未入任何批次",
                f"{len(data['unbatched_lost'])} lost row(s) in no batch",
            )
        )
    if not data["owed"]:
        lines.append(pick(lang, "无需重做的报文", "no report message needs redoing"))
    return lines


def _rows_file(path: Path) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(lost, changed) rows from a JSON file (the shapes `split_lost_and_changed` takes)."""
    from orchestrator.credit.aftermath import split_lost_and_changed

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file") from None
    except OSError as err:
        raise UserInputError(f"{path}: cannot be read ({err.strerror})") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise UserInputError(f"{path}:{err.lineno}: not JSON ({err.msg})") from None
    try:
        return split_lost_and_changed(data)
    except UserInputError as err:
        raise UserInputError(f"{path}: {err.message}") from None
