"""Charts: achieved figures as bars against the target as a line (matplotlib, no display)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI

from matplotlib import font_manager
from matplotlib import pyplot as plt

from orchestrator.reports.blocks import Chart
from orchestrator.reports.fonts import cjk_font_file

_COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5")


def chart_svg(chart: Chart) -> str:
    return _render(chart, "svg").decode()


def chart_png(chart: Chart) -> bytes:
    return _render(chart, "png")


def _render(chart: Chart, fmt: str) -> bytes:
    font = _cjk_font()
    figure, axes = plt.subplots(figsize=(7.0, 3.0), dpi=110)
    try:
        count = max(1, len(chart.series))
        width = 0.8 / count
        positions = range(len(chart.x_labels))
        for index, series in enumerate(chart.series):
            values = [v if v is not None else 0.0 for v in series.values]
            axes.bar(
                [p + (index - (count - 1) / 2) * width for p in positions],
                values,
                width,
                label=series.label,
                color=_COLOURS[index % len(_COLOURS)],
            )
        if chart.target is not None:
            axes.axhline(chart.target, color="#c53030", linestyle="--", label=chart.target_label)
        axes.set_xticks(list(positions))
        axes.set_xticklabels(chart.x_labels, rotation=20, ha="right", fontproperties=font)
        axes.set_ylabel(chart.y_label, fontproperties=font)
        axes.set_title(chart.title, fontproperties=font)
        axes.legend(prop=font, fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        # No timestamp in the SVG, so the same journal gives the same file.
        metadata = {"Date": None} if fmt == "svg" else {}
        figure.savefig(buffer, format=fmt, metadata=metadata)
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _cjk_font() -> font_manager.FontProperties:
    return font_manager.FontProperties(fname=str(cjk_font_file()), size=9)
