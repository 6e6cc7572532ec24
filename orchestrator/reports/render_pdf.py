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
from orchestrator.reports.pdf_wrap import column_widths, wrap

_FONT = "DrReportCJK"
_WIDTH = A4[0] - 4 * cm
_CELL_PADDING = 4.0  # points, each side of a table cell


def render_pdf(document: b.Document) -> bytes:
    _register_font()
    styles = _styles()
    story: list[Any] = [
        _wrapped(document.title, styles["title"], _WIDTH),
        _wrapped(document.subtitle, styles["body"], _WIDTH),
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
        return [_wrapped(block.text, styles["h2" if block.level <= 2 else "h3"], _WIDTH)]
    if isinstance(block, b.Paragraph):
        return [_paragraph(block, styles)]
    if isinstance(block, b.Facts):
        widths = [0.3 * _WIDTH, 0.7 * _WIDTH]
        return [_table([[k, v] for k, v in block.items], widths, styles, header=False)]
    if isinstance(block, b.Table):
        texts = [block.columns, *block.rows]
        cell = styles["cell"]
        widths = column_widths(texts, _WIDTH, _FONT, cell.fontSize, 2 * _CELL_PADDING)
        return [_table(texts, widths, styles, header=True)]
    if isinstance(block, b.Chart):
        png = chart_png(block)
        return [Image(io.BytesIO(png), width=_WIDTH, height=_WIDTH * 3 / 7), Spacer(1, 0.2 * cm)]
    raise TypeError(f"unknown block {block!r}")


def _paragraph(block: b.Paragraph, styles: dict[str, ParagraphStyle]) -> Paragraph:
    return _wrapped(block.text, styles["alert" if block.alert else "body"], _WIDTH)


def _wrapped(text: str, style: ParagraphStyle, width: float) -> Paragraph:
    """`text` broken into lines here (pdf_wrap), each line escaped, joined by <br/>."""
    lines = wrap(text, width, style.fontName, style.fontSize)
    return Paragraph("<br/>".join(escape(line) for line in lines), style)


def _table(
    texts: list[list[str]],
    widths: list[float],
    styles: dict[str, ParagraphStyle],
    *,
    header: bool,
) -> PdfTable:
    inner = [w - 2 * _CELL_PADDING for w in widths]
    rows = [
        [_wrapped(text, styles["cell"], inner[index]) for index, text in enumerate(row)]
        for row in texts
    ]
    table = PdfTable(rows, colWidths=widths, repeatRows=1 if header else 0)
    style: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#a0aec0")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PADDING),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#edf2f7")))
    table.setStyle(style)
    return table


def _register_font() -> None:
    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_FONT, str(cjk_font_file()), subfontIndex=0))


def _styles() -> dict[str, ParagraphStyle]:
    # No wordWrap="CJK" (it breaks English words anywhere): lines come broken from
    # pdf_wrap, by words for Latin text and by characters for Chinese.
    base = ParagraphStyle("body", fontName=_FONT, fontSize=10, leading=14)
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=22, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontSize=13, leading=18, spaceBefore=8),
        "h3": ParagraphStyle("h3", parent=base, fontSize=11, leading=15, spaceBefore=6),
        "alert": ParagraphStyle("alert", parent=base, textColor=colors.HexColor("#c53030")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
    }
