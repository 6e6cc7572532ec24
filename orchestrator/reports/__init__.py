"""Reports for management and the regulator, built from the journal.

Each report module has `build(...) -> dict` (the data model, which is also the JSON
output, so tests compare its numbers with the journal's) and `layout(data, lang) ->
Document` (the same data as headings, tables and charts). `render.write_report` turns a
Document into Markdown, HTML (SVG charts) or PDF (PNG charts, embedded CJK font).
"""
