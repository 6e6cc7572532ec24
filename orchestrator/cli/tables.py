"""Tables whose cells are never cut: a narrow terminal folds a cell onto more lines
instead of ending it with an ellipsis, and the identifiers an operator types next (run
ids, incident ids, runbook names) stay whole on one line where the width allows."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

_UNLIMITED = 10_000


def folding_table(*headings: str, whole: int = 1, widest: list[str] | None = None) -> Table:
    """A table of `headings`; its first `whole` columns are identifiers, kept unwrapped,
    the first at the width of the longest of `widest` (folded only when even that cannot
    fit)."""
    table = Table(*headings)
    for number, column in enumerate(table.columns):
        column.overflow = "fold"
        if number < whole:
            column.no_wrap = True
            if widest and number == 0:
                column.min_width = max(len(text) for text in widest)
    return table


def print_table(console: Console, table: Table) -> None:
    """`table` where the terminal is wide enough for its narrowest form (every word and
    identifier whole); on a narrower one, each row as lines of "heading: value", so that
    no column is squeezed to nothing."""
    unlimited = console.options.update_width(_UNLIMITED)
    if Measurement.get(console, unlimited, table).minimum <= console.width:
        console.print(table)
        return
    cells = [list(column.cells) for column in table.columns]
    for row in range(table.row_count):
        if row:
            console.print()
        for column, values in zip(table.columns, cells, strict=True):
            value = values[row]
            heading = str(column.header) or "-"
            if isinstance(value, str):
                console.print(f"[bold]{escape(heading)}[/]: {value}")
            else:
                console.print(f"[bold]{escape(heading)}[/]:", value)
