"""Charts: achieved figures as bars against the target as a line (matplotlib, no display).

A recovery of a few seconds against a target of a day is 1/20000 of the axis on a linear
scale: its bar is invisible and the reader sees "nothing happened". When the figures and
the target span more than `LOG_SPAN` times, the y axis is logarithmic, its ticks read as
durations (1s, 1min, 1h, 1d), and every bar carries its own figure.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from orchestrator.durations import format_duration
from orchestrator.reports.blocks import Chart
from orchestrator.reports.fonts import cjk_font_file

_COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5")
# Largest over smallest figure (target included) above which a linear axis hides bars.
LOG_SPAN = 20.0
# Ticks of a logarithmic seconds axis: the units a person reads a duration in.
_DURATION_TICKS = (1, 10, 60, 600, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)


def chart_svg(chart: Chart) -> str:
    return _render(chart, "svg").decode()


def chart_png(chart: Chart) -> bytes:
    return _render(chart, "png")


def uses_log_scale(chart: Chart) -> bool:
    figures = [v for s in chart.series for v in s.values if v is not None and v > 0]
    if chart.target is not None and chart.target > 0:
        figures.append(chart.target)
    return len(figures) > 1 and max(figures) / min(figures) > LOG_SPAN


def value_text(chart: Chart, value: float) -> str:
    """A bar's own label: a duration for seconds, else the number with the axis's unit."""
    if chart.y_unit == "seconds":
        return f"{value:.1f}s" if value < 60 else format_duration(value)
    return f"{value:g}{chart.y_label if chart.y_label == '%' else ''}"


def _render(chart: Chart, fmt: str) -> bytes:
    font = _cjk_font()
    # Fixed ids (a hash of the content with this salt, not a random one): the same
    # journal gives the same SVG; render_html makes them unique per chart on a page.
    with matplotlib.rc_context({"svg.hashsalt": "dr-report"}):
        figure, axes = plt.subplots(figsize=(7.0, 3.0), dpi=110)
        try:
            _draw(chart, axes, font)
            figure.tight_layout()
            buffer = io.BytesIO()
            # No timestamp in the SVG, so the same journal gives the same file.
            metadata = {"Date": None} if fmt == "svg" else {}
            figure.savefig(buffer, format=fmt, metadata=metadata)
            return buffer.getvalue()
        finally:
            plt.close(figure)


def _draw(chart: Chart, axes: Axes, font: font_manager.FontProperties) -> None:
    log = uses_log_scale(chart)
    count = max(1, len(chart.series))
    width = 0.8 / count
    positions = range(len(chart.x_labels))
    figures = [v for s in chart.series for v in s.values if v is not None and v > 0]
    # On a log axis a bar starts from a floor below the smallest figure, not from 0.
    floor = 10 ** math.floor(math.log10(min(figures))) / 2 if log and figures else 0.0
    for index, series in enumerate(chart.series):
        xs = [p + (index - (count - 1) / 2) * width for p in positions]
        heights = [(v - floor) if v is not None and v > 0 else 0.0 for v in series.values]
        bars = axes.bar(
            xs,
            heights,
            width,
            bottom=floor,
            label=series.label,
            color=_COLOURS[index % len(_COLOURS)],
        )
        labels = [value_text(chart, v) if v is not None else "—" for v in series.values]
        axes.bar_label(bars, labels=labels, fontsize=7, padding=1)
    if chart.target is not None:
        label = f"{chart.target_label} {value_text(chart, chart.target)}"
        axes.axhline(chart.target, color="#c53030", linestyle="--", label=label)
    if log:
        axes.set_yscale("log")
        axes.set_ylim(bottom=floor)
        if chart.y_unit == "seconds":
            _duration_ticks(axes, floor, max([*figures, chart.target or 0.0]))
        else:  # 0.01, 1, 100 rather than 10^-2, 10^0, 10^2
            axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axes.set_xticks(list(positions))
    axes.set_xticklabels(chart.x_labels, rotation=20, ha="right", fontproperties=font)
    y_label = chart.y_label + (" (log)" if log else "")
    axes.set_ylabel(y_label, fontproperties=font)
    axes.set_title(chart.title, fontproperties=font)
    axes.legend(prop=font, fontsize=8)


def _duration_ticks(axes: Axes, low: float, high: float) -> None:
    ticks = [float(t) for t in _DURATION_TICKS if low <= t <= high * 2] or [low, high]
    axes.yaxis.set_major_locator(FixedLocator(ticks))
    axes.yaxis.set_minor_locator(NullLocator())
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: format_duration(value)))
    axes.set_ylim(top=max(high * 2, ticks[-1] * 1.2))


def _cjk_font() -> font_manager.FontProperties:
    return font_manager.FontProperties(fname=str(cjk_font_file()), size=9)
