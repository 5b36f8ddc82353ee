"""Geometry of the server-side SVG charts on the supervisor dashboard.

These functions only compute coordinates in the chart's own units (its viewBox). The
template `console/_supervisor_charts.html` draws them, so Jinja escapes every label like
any other text. Colours and fonts come from CSS classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Room for axis labels around the plot area, in viewBox units.
MARGIN_LEFT = 44.0
MARGIN_RIGHT = 16.0
MARGIN_TOP = 12.0
MARGIN_BOTTOM = 30.0
BAR_GAP = 0.25
"""Share of each band left empty between bars."""


@dataclass(frozen=True)
class Plot:
    """The rectangle the data is drawn in, inside a width × height viewBox."""

    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def inner_width(self) -> float:
        return self.right - self.left

    @property
    def inner_height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    value_x: float
    value_y: float
    """Position of the value label, beside or above the bar."""


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    plot: Plot
    horizontal: bool
    bars: list[Bar]
    category_ticks: list[Tick]
    value_ticks: list[Tick]


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Series:
    key: str
    name: str
    segments: list[str]
    """SVG `points` lists; a bucket without data breaks the line into segments."""
    points: list[Point]


@dataclass(frozen=True)
class LineChart:
    id: str
    title: str
    description: str
    plot: Plot
    series: list[Series]
    category_ticks: list[Tick]
    value_ticks: list[Tick]


def nice_maximum(value: float) -> float:
    """Round up to 1, 2 or 5 times a power of ten, so axis ticks land on round numbers."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return 10.0 * power


def count_ticks(maximum: float, *, count: int = 4) -> list[float]:
    """Tick values from 0 up to `maximum`, about `count` steps of a whole, round size.

    The step is 1, 2 or 5 times a power of ten and at least 1, so every label is exact;
    the top tick may sit below `maximum` when the step does not divide it.
    """
    step = max(1.0, nice_maximum(maximum / count))
    ticks = []
    value = 0.0
    while value <= maximum + 1e-9:
        ticks.append(value)
        value += step
    return ticks


def _format_count(value: float) -> str:
    return str(round(value))


def _thinned(labels: Sequence[str], every: int) -> list[tuple[int, str]]:
    return [(index, label) for index, label in enumerate(labels) if index % every == 0]


def vertical_bars(
    *,
    id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[int],
    width: float = 640.0,
    height: float = 220.0,
    label_every: int = 1,
) -> BarChart:
    """Bars standing on the x axis, one per label; every `label_every`-th label is written."""
    plot = Plot(
        width=width,
        height=height,
        left=MARGIN_LEFT,
        top=MARGIN_TOP,
        right=width - MARGIN_RIGHT,
        bottom=height - MARGIN_BOTTOM,
    )
    maximum = nice_maximum(max(values, default=0))
    band = plot.inner_width / max(len(values), 1)
    bars = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_height = plot.inner_height * value / maximum
        x = plot.left + band * index + band * BAR_GAP / 2
        bars.append(
            Bar(
                x=round(x, 2),
                y=round(plot.bottom - bar_height, 2),
                width=round(band * (1 - BAR_GAP), 2),
                height=round(bar_height, 2),
                label=label,
                value=value,
                value_x=round(x + band * (1 - BAR_GAP) / 2, 2),
                value_y=round(plot.bottom - bar_height - 3, 2),
            )
        )
    category_ticks = [
        Tick(position=round(plot.left + band * (index + 0.5), 2), label=label)
        for index, label in _thinned(labels, label_every)
    ]
    value_ticks = [
        Tick(
            position=round(plot.bottom - plot.inner_height * value / maximum, 2),
            label=_format_count(value),
        )
        for value in count_ticks(maximum)
    ]
    return BarChart(
        id=id,
        title=title,
        description=description,
        plot=plot,
        horizontal=False,
        bars=bars,
        category_ticks=category_ticks,
        value_ticks=value_ticks,
    )


def horizontal_bars(
    *,
    id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    values: Sequence[int],
    width: float = 640.0,
    row_height: float = 28.0,
    label_width: float = 120.0,
) -> BarChart:
    """Lay out one bar per label, each growing to the right from a column of labels."""
    height = MARGIN_TOP + row_height * max(len(values), 1) + MARGIN_BOTTOM
    plot = Plot(
        width=width,
        height=height,
        left=label_width,
        top=MARGIN_TOP,
        right=width - MARGIN_RIGHT - 24,
        bottom=height - MARGIN_BOTTOM,
    )
    maximum = nice_maximum(max(values, default=0))
    bars = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_width = plot.inner_width * value / maximum
        y = plot.top + row_height * index + row_height * BAR_GAP / 2
        bars.append(
            Bar(
                x=plot.left,
                y=round(y, 2),
                width=round(bar_width, 2),
                height=round(row_height * (1 - BAR_GAP), 2),
                label=label,
                value=value,
                value_x=round(plot.left + bar_width + 4, 2),
                value_y=round(y + row_height * (1 - BAR_GAP) / 2, 2),
            )
        )
    category_ticks = [
        Tick(position=round(plot.top + row_height * (index + 0.5), 2), label=label)
        for index, label in enumerate(labels)
    ]
    value_ticks = [
        Tick(
            position=round(plot.left + plot.inner_width * value / maximum, 2),
            label=_format_count(value),
        )
        for value in count_ticks(maximum)
    ]
    return BarChart(
        id=id,
        title=title,
        description=description,
        plot=plot,
        horizontal=True,
        bars=bars,
        category_ticks=category_ticks,
        value_ticks=value_ticks,
    )


def percent_lines(
    *,
    id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    width: float = 640.0,
    height: float = 240.0,
    label_every: int = 1,
) -> LineChart:
    """Lines of percentages (0 to 100) over the labelled buckets.

    `series` holds (key, name, values) with one value per label; None leaves a gap.
    """
    plot = Plot(
        width=width,
        height=height,
        left=MARGIN_LEFT,
        top=MARGIN_TOP,
        right=width - MARGIN_RIGHT,
        bottom=height - MARGIN_BOTTOM,
    )
    count = len(labels)
    step = plot.inner_width / max(count - 1, 1)

    def x_of(index: int) -> float:
        if count == 1:
            return round(plot.left + plot.inner_width / 2, 2)
        return round(plot.left + step * index, 2)

    def y_of(percent: float) -> float:
        return round(plot.bottom - plot.inner_height * percent / 100.0, 2)

    drawn = []
    for key, name, values in series:
        segments: list[list[str]] = []
        points = []
        current: list[str] = []
        for index, value in enumerate(values):
            if value is None:
                if current:
                    segments.append(current)
                current = []
                continue
            x, y = x_of(index), y_of(value)
            current.append(f"{x},{y}")
            points.append(Point(x=x, y=y, label=f"{name}, {labels[index]}: {value:.0f}%"))
        if current:
            segments.append(current)
        drawn.append(
            Series(
                key=key,
                name=name,
                segments=[" ".join(segment) for segment in segments],
                points=points,
            )
        )
    category_ticks = [
        Tick(position=x_of(index), label=label) for index, label in _thinned(labels, label_every)
    ]
    value_ticks = [Tick(position=y_of(value), label=f"{value}%") for value in (0, 25, 50, 75, 100)]
    return LineChart(
        id=id,
        title=title,
        description=description,
        plot=plot,
        series=drawn,
        category_ticks=category_ticks,
        value_ticks=value_ticks,
    )
