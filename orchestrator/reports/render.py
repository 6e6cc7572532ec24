"""Write a report in the format asked for: JSON is the data, the rest render its layout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from orchestrator.errors import ReportError, UserInputError
from orchestrator.private_files import write_atomically
from orchestrator.reports.blocks import Document
from orchestrator.reports.i18n import ReportLang

ReportFormat = Literal["html", "pdf", "md", "json"]
FORMATS: tuple[str, ...] = ("html", "pdf", "md", "json")


def report_format(value: str) -> ReportFormat:
    if value not in FORMATS:
        raise UserInputError(f"--format {value!r} is not known; use one of {', '.join(FORMATS)}")
    return value  # type: ignore[return-value]


def write_report(
    data: dict[str, Any],
    layout: Callable[[dict[str, Any], ReportLang], Document],
    fmt: ReportFormat,
    lang: ReportLang,
    output: Path | None,
) -> None:
    content = _content(data, layout, fmt, lang)
    if output is None:
        if isinstance(content, bytes):
            raise UserInputError("a PDF cannot go to the terminal; give -o FILE.pdf")
        sys.stdout.write(content)
        return
    try:
        # Owner-only and whole or not at all: a report describes the bank's systems.
        write_atomically(output, content)
    except OSError as err:
        raise ReportError(f"cannot write the report to {output}: {err.strerror}") from None


def _content(
    data: dict[str, Any],
    layout: Callable[[dict[str, Any], ReportLang], Document],
    fmt: ReportFormat,
    lang: ReportLang,
) -> str | bytes:
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    document = layout(data, lang)
    if fmt == "md":
        from orchestrator.reports.render_markdown import render_markdown

        return render_markdown(document)
    if fmt == "html":
        from orchestrator.reports.render_html import render_html

        return render_html(document, "zh-CN" if lang == "zh" else "en")
    from orchestrator.reports.render_pdf import render_pdf

    return render_pdf(document)
