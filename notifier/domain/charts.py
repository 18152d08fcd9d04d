"""Bar charts as geometry for inline SVG: drawn by the server, so the admin needs no script
library and its Content-Security-Policy stays as strict as it is (docs/tracking.md).

A chart is a list of columns, each one or two stacked values (people's events below, machines'
above); the template writes one <rect> per value and a table of the same numbers beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 640, 180  # the viewBox; the SVG scales to its box
LEFT, BOTTOM, TOP = 40, 20, 8  # room for the axis labels


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    value: float


@dataclass(frozen=True)
class Column:
    label: str
    low: Rect  # the first value (people's), from the axis up
    high: Rect | None  # the second (machines'), stacked on it; None when a column has one value


@dataclass(frozen=True)
class Tick:
    y: float
    value: float


@dataclass(frozen=True)
class BarChart:
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: int = HEIGHT - BOTTOM  # the x axis

    @property
    def label_every(self) -> int:
        """Label one column in n so the labels do not overlap (about 12 fit)."""
        return max(1, -(-len(self.columns) // 12))


def _scale_top(largest: float) -> int:
    """A round axis maximum at or above the largest value: 1, 2, 5 times a power of ten."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= largest:
                return top * step
        top *= 10


def bar_chart(
    labels: list[str],
    low: list[int] | list[float],
    high: list[int] | None = None,
    top: float | None = None,
) -> BarChart:
    """Columns of equal width across the plot; values below zero count as zero. The axis ends
    at `top` (100 for percentages) or at a round number above the largest column."""
    if high is not None and len(high) != len(low):
        raise ValueError("the two series differ in length")
    if len(labels) != len(low):
        raise ValueError("one label per column")
    sums = [max(0, a) + max(0, high[i] if high else 0) for i, a in enumerate(low)]
    top = top or _scale_top(max(sums, default=0))
    base = HEIGHT - BOTTOM
    span = base - TOP
    slot = (WIDTH - LEFT) / max(1, len(low))
    gap = min(2.0, slot / 5)

    def rect(i: int, value: float, under: float) -> Rect:
        height = span * max(0, value) / top
        return Rect(round(LEFT + i * slot + gap / 2, 2), round(under - height, 2),
                    round(slot - gap, 2), round(height, 2), max(0, value))  # fmt: skip

    columns = []
    for i, label in enumerate(labels):
        first = rect(i, low[i], base)
        second = rect(i, high[i], first.y) if high is not None else None
        columns.append(Column(label, first, second))
    # A middle line only where it falls on a whole number (no half a click).
    fractions = (0, 0.5, 1) if (top / 2).is_integer() else (0, 1)
    ticks = tuple(Tick(round(base - span * f, 2), top * f) for f in fractions)
    return BarChart(tuple(columns), ticks)
