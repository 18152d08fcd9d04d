"""Bar chart geometry for the server-drawn SVG: columns fill the plot, heights follow the values
on a round axis, the second value stacks on the first, and the labels thin out."""

from __future__ import annotations

import pytest

from notifier.domain.charts import HEIGHT, LEFT, TOP, WIDTH, bar_chart


def test_heights_follow_the_values_on_a_round_axis() -> None:
    chart = bar_chart(["a", "b", "c"], [3, 0, 6])
    base = HEIGHT - 20
    assert [t.value for t in chart.ticks] == [0, 5, 10]  # 6 rounds up to 10
    heights = [c.low.height for c in chart.columns]
    assert heights[1] == 0 and heights[2] == pytest.approx(2 * heights[0])
    assert heights[2] == pytest.approx((base - TOP) * 0.6)
    assert all(c.low.y + c.low.height == pytest.approx(base) for c in chart.columns)
    lefts = [c.low.x for c in chart.columns]
    assert lefts == sorted(lefts) and lefts[0] >= LEFT
    last = chart.columns[-1].low
    assert last.x + last.width <= WIDTH


def test_the_second_value_stacks_on_the_first() -> None:
    chart = bar_chart(["h0", "h1"], [2, 1], [1, 0])
    first = chart.columns[0]
    assert first.high is not None and first.high.value == 1
    assert first.high.y + first.high.height == pytest.approx(first.low.y)
    assert chart.ticks[-1].value == 5  # 2 + 1 stacked: the axis covers the sum
    assert [t.value for t in chart.ticks] == [0, 5]  # no half-way line at 2.5


def test_percentages_on_a_fixed_axis_and_nothing_below_zero() -> None:
    chart = bar_chart(["#1", "#2"], [12.5, -3], top=100)
    assert [t.value for t in chart.ticks] == [0, 50, 100]
    assert chart.columns[1].low.height == 0 and chart.columns[1].low.value == 0
    assert chart.columns[0].low.value == 12.5


def test_labels_thin_out_and_lengths_must_match() -> None:
    assert bar_chart([str(i) for i in range(48)], [0] * 48).label_every == 4
    assert bar_chart(["x"], [0]).label_every == 1
    assert [t.value for t in bar_chart([], []).ticks] == [0, 1]  # an empty chart still draws
    with pytest.raises(ValueError, match="one label"):
        bar_chart(["a"], [1, 2])
    with pytest.raises(ValueError, match="differ"):
        bar_chart(["a", "b"], [1, 2], [1])
