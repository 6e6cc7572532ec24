"""Charts and PDF lines drawn for real (matplotlib, reportlab), read back from their output."""

from __future__ import annotations

import re
import subprocess

from orchestrator.reports.blocks import Chart, Document, Paragraph, Series, Table
from orchestrator.reports.charts import chart_svg, uses_log_scale
from orchestrator.reports.pdf_wrap import wrap
from orchestrator.reports.render_pdf import _FONT, _register_font, render_pdf

DAY = 86400.0


def _labels(svg: str) -> set[str]:
    """matplotlib writes each text it draws as a comment before its glyphs."""
    return {text.strip() for text in re.findall(r"<!-- (.*?) -->", svg)}


def test_a_few_seconds_against_a_days_target_is_drawn_on_a_log_axis_of_durations():
    chart = Chart(
        title="backup set credit: RTO",
        x_labels=["12-01", "12-02"],
        series=[Series("achieved", [3.2, 5.0])],
        target=DAY,
        target_label="target",
    )
    assert uses_log_scale(chart)
    labels = _labels(chart_svg(chart))
    # Each bar says its figure; the axis reads in durations up to the target's day.
    assert {"3.2s", "5.0s", "target 1d", "1s", "10s", "1h", "1d", "seconds (log)"} <= labels


def test_figures_near_their_target_keep_a_linear_axis():
    chart = Chart(
        title="credit: RTO",
        x_labels=["12-01"],
        series=[Series("achieved", [1500.0])],
        target=1800.0,
    )
    assert not uses_log_scale(chart)
    labels = _labels(chart_svg(chart))
    assert "25m" in labels and "target 30m" in labels and "seconds" in labels


def test_percentages_of_target_read_as_plain_numbers_on_a_log_axis():
    chart = Chart(
        title="% of target",
        x_labels=["a", "b"],
        series=[Series("% of target", [0.01, 250.0])],
        target=100.0,
        y_label="%",
        y_unit="ratio",
    )
    labels = _labels(chart_svg(chart))
    assert {"0.01%", "250%", "target 100%", "0.01", "100"} <= labels


def test_lines_break_between_english_words_and_between_chinese_characters():
    _register_font()
    text = "报文服务无响应，请值班人员立即处理 / the report service is down, restart it"
    lines = wrap(text, 60, _FONT, 8)
    assert len(lines) > 3 and "".join(lines).replace(" ", "") == text.replace(" ", "")
    words = set(text.split())
    for line in lines:
        latin = re.findall(r"[a-z]+,?", line)
        assert all(w in words or w.rstrip(",") in words for w in latin), lines
    # Closing punctuation stays on the line before it.
    assert not any(line.startswith(("，", ",")) for line in lines)


def test_a_narrow_pdf_table_keeps_every_english_word_whole(tmp_path):
    words = [
        "recovery",
        "achieved",
        "measured",
        "procedure",
        "occasions",
        "verification",
        "restore",
    ]
    rows = [[" ".join(words[i:] + words[:i]) for i in range(7)] for _ in range(3)]
    document = Document(
        title="Words",
        subtitle="seven narrow columns",
        verification=Paragraph("Journal verification: PASSED"),
        blocks=[Table([f"column {n}" for n in range(7)], rows)],
    )
    pdf = tmp_path / "words.pdf"
    pdf.write_bytes(render_pdf(document))
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    read = re.findall(r"[A-Za-z]{3,}", text)
    assert set(words) <= set(read)
    others = {"column", "seven", "narrow", "columns", "Words", "Journal", "PASSED"}
    assert set(read) - set(words) - others == set()
