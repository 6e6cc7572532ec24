"""A Document as PDF (reportlab): the CJK font embedded, charts as PNG images."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus import Table as PdfTable

from orchestrator.reports import blocks as b
from orchestrator.reports.charts import chart_png
from orchestrator.reports.fonts import cjk_font_file

_FONT = "DrReportCJK"
_WIDTH = A4[0] - 4 * cm


def render_pdf(document: b.Document) -> bytes:
    _register_font()
    styles = _styles()
    story: list[Any] = [
        Paragraph(escape(document.title), styles["title"]),
        Paragraph(escape(document.subtitle), styles["body"]),
        _paragraph(document.verification, styles),
        Spacer(1, 0.3 * cm),
    ]
    for block in document.blocks:
        story.extend(_flowables(block, styles))
    buffer = io.BytesIO()
    # invariant=1: no creation date or random id, so one journal gives one PDF.
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=document.title,
        invariant=1,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
    ).build(story)
    return buffer.getvalue()


def _flowables(block: b.Block, styles: dict[str, ParagraphStyle]) -> list[Any]:
    if isinstance(block, b.Heading):
        return [Paragraph(escape(block.text), styles["h2" if block.level <= 2 else "h3"])]
    if isinstance(block, b.Paragraph):
        return [_paragraph(block, styles)]
    if isinstance(block, b.Facts):
        rows = [[_cell(k, styles), _cell(v, styles)] for k, v in block.items]
        return [_table(rows, [0.3 * _WIDTH, 0.7 * _WIDTH], header=False)]
    if isinstance(block, b.Table):
        rows = [[_cell(c, styles) for c in row] for row in [block.columns, *block.rows]]
        width = _WIDTH / max(1, len(block.columns))
        return [_table(rows, [width] * len(block.columns), header=True)]
    if isinstance(block, b.Chart):
        png = chart_png(block)
        return [Image(io.BytesIO(png), width=_WIDTH, height=_WIDTH * 3 / 7), Spacer(1, 0.2 * cm)]
    raise TypeError(f"unknown block {block!r}")


def _paragraph(block: b.Paragraph, styles: dict[str, ParagraphStyle]) -> Paragraph:
    return Paragraph(escape(block.text), styles["alert" if block.alert else "body"])


def _cell(text: str, styles: dict[str, ParagraphStyle]) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), styles["cell"])


def _table(rows: list[list[Any]], widths: list[float], *, header: bool) -> PdfTable:
    table = PdfTable(rows, colWidths=widths, repeatRows=1 if header else 0)
    style: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#a0aec0")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")))
    table.setStyle(style)
    return table


def _register_font() -> None:
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, str(cjk_font_file()), subfontIndex=0))


def _styles() -> dict[str, ParagraphStyle]:
    # wordWrap="CJK": Chinese has no spaces, so lines may break between any two characters.
    base = ParagraphStyle("body", fontName=_FONT, fontSize=10, leading=14, wordWrap="CJK")
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=22, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontSize=13, leading=18, spaceBefore=8),
        "h3": ParagraphStyle("h3", parent=base, fontSize=11, leading=15, spaceBefore=6),
        "alert": ParagraphStyle("alert", parent=base, textColor=colors.HexColor("#c53030")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
    }
