"""A Document as one self-contained HTML page (Jinja2, charts inlined as SVG)."""

from __future__ import annotations

import re

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from orchestrator.reports.blocks import Chart, Document, Facts, Heading, Paragraph, Table
from orchestrator.reports.charts import chart_svg

_TEMPLATE = """<!DOCTYPE html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ doc.title }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; margin: 2em;
       max-width: 60em; color: #1a202c; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #cbd5e0;
  padding: .25em .5em; text-align: left; } th { background: #edf2f7; }
.alert { color: #c53030; font-weight: bold; } .chart svg { max-width: 100%; height: auto; }
dt { font-weight: bold; } dd { margin: 0 0 .4em 1.5em; }
</style></head><body>
<h1>{{ doc.title }}</h1><p>{{ doc.subtitle }}</p>
<p class="{{ 'alert' if doc.verification.alert else '' }}">{{ doc.verification.text }}</p>
{% for b in blocks %}
{% if b.kind == "heading" %}<h{{ b.level }}>{{ b.text }}</h{{ b.level }}>
{% elif b.kind == "paragraph" %}<p class="{{ 'alert' if b.alert else '' }}">{{ b.text }}</p>
{% elif b.kind == "facts" %}<dl>{% for k, v in b.pairs %}<dt>{{ k }}</dt><dd>{{ v }}</dd>
{% endfor %}</dl>
{% elif b.kind == "table" %}<table><tr>{% for c in b.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in b.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% elif b.kind == "chart" %}<figure class="chart">{{ b.svg }}</figure>
{% endif %}{% endfor %}
</body></html>
"""

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_html(document: Document, lang: str) -> str:
    blocks = [_view(b, f"chart{index}") for index, b in enumerate(document.blocks, 1)]
    return _ENV.from_string(_TEMPLATE).render(doc=document, blocks=blocks, lang=lang)


def _view(block: object, name: str) -> dict[str, object]:
    if isinstance(block, Heading):
        return {"kind": "heading", "text": block.text, "level": min(block.level, 6)}
    if isinstance(block, Paragraph):
        return {"kind": "paragraph", "text": block.text, "alert": block.alert}
    if isinstance(block, Facts):
        return {"kind": "facts", "pairs": block.items}
    if isinstance(block, Table):
        return {"kind": "table", "columns": block.columns, "rows": block.rows}
    if isinstance(block, Chart):
        # matplotlib's own SVG, from numbers and labels we escape in the chart text.
        svg = prefix_ids(_strip_xml_prolog(chart_svg(block)), name)
        return {"kind": "chart", "svg": Markup(svg)}
    raise TypeError(f"unknown block {block!r}")


def _strip_xml_prolog(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


# Where an SVG names an id: its definition, and the references to it (clip paths, glyphs
# and markers are defined once and used by url(#id) or href="#id").
_ID_OR_REFERENCE = re.compile(r'(\bid="|url\(#|\bhref="#)([^")]+)')


def prefix_ids(svg: str, prefix: str) -> str:
    """Every id of one chart, and every reference to it, given the chart's own prefix.

    matplotlib names the same glyph or clip path the same way in every chart it draws
    (e.g. "DejaVuSans-31"); inlined side by side, the ids repeat, the page is not valid
    HTML, and a browser may draw one chart's glyphs from another's definitions."""
    defined = set(re.findall(r'\bid="([^"]+)"', svg))

    def renamed(match: re.Match[str]) -> str:
        name = match.group(2)
        return match.group(1) + (f"{prefix}-{name}" if name in defined else name)

    return _ID_OR_REFERENCE.sub(renamed, svg)
