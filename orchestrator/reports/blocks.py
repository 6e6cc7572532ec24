"""A report as a few kinds of block, so one layout renders to Markdown, HTML and PDF."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    alert: bool = False  # shown emphasised: a broken journal, a missed target


@dataclass(frozen=True)
class Facts:
    """Label: value pairs, e.g. the regulator's written-report fields."""

    items: list[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]


@dataclass(frozen=True)
class Chart:
    """Achieved figures per occasion (x) against a target line; seconds on the y axis."""

    title: str
    x_labels: list[str]
    series: list[Series]
    target: float | None = None
    target_label: str = "target"
    y_label: str = "seconds"
    # "seconds": durations (ticks and bar labels read 1s, 1h, 1d); "ratio": any other
    # number, such as a percentage of the target.
    y_unit: str = "seconds"


Block = Heading | Paragraph | Facts | Table | Chart


@dataclass
class Document:
    title: str
    subtitle: str
    verification: Paragraph  # always on the first page
    blocks: list[Block] = field(default_factory=list)

    def charts(self) -> list[Chart]:
        return [b for b in self.blocks if isinstance(b, Chart)]
