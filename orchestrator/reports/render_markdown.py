"""A Document as Markdown: charts become tables of their figures (Markdown has no images)."""

from __future__ import annotations

from orchestrator.reports.blocks import Chart, Document, Facts, Heading, Paragraph, Table


def render_markdown(document: Document) -> str:
    lines = [f"# {document.title}", "", document.subtitle, "", _paragraph(document.verification)]
    for block in document.blocks:
        lines.append("")
        if isinstance(block, Heading):
            lines.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            lines.append(_paragraph(block))
        elif isinstance(block, Facts):
            lines.extend(f"- **{_cell(k)}**: {_cell(v)}" for k, v in block.items)
        elif isinstance(block, Table):
            lines.extend(_table(block.columns, block.rows))
        elif isinstance(block, Chart):
            lines.append(f"*{block.title}*")
            lines.append("")
            lines.extend(_table(*_chart_rows(block)))
    return "\n".join(lines) + "\n"


def _paragraph(block: Paragraph) -> str:
    return f"**{block.text}**" if block.alert else block.text


def _table(columns: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    out.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return out


def _chart_rows(chart: Chart) -> tuple[list[str], list[list[str]]]:
    columns = ["", *(s.label for s in chart.series)]
    if chart.target is not None:
        columns.append(chart.target_label)
    rows = []
    for index, label in enumerate(chart.x_labels):
        row = [label, *(_number(s.values[index]) for s in chart.series)]
        if chart.target is not None:
            row.append(_number(chart.target))
        rows.append(row)
    return columns, rows


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
