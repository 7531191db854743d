"""Small server-side SVG charts for the Sluice view: no JavaScript, no CDN, readable at a glance.

A chart is a title, a date axis, a value axis with its unit, one polyline and its points per
series (each point carries a ``<title>`` tooltip), optional threshold lines and day markers (the
champion changes), and a legend.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#e377c2")
"""Distinguishable colours (the Tableau 10 set, red kept for thresholds and alerts)."""
ALERT = "#d62728"


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[dt.date, float | None]]
    color: str | None = None
    step: bool = False
    """Hold each value until the next point (a state such as the champion's version)."""
    hold_until: dt.date | None = None
    """With ``step``: carry the last value on to this day (a line, no point)."""


@dataclass(frozen=True)
class Marker:
    """A vertical line on a day, labelled (e.g. ``v3`` where version 3 became champion)."""

    day: dt.date
    label: str
    color: str = "#555"


@dataclass(frozen=True)
class Threshold:
    value: float
    label: str


@dataclass
class _Frame:
    width: int
    height: int
    left: int = 64
    right: int = 20
    top: int = 44
    bottom: int = 40
    first: dt.date = dt.date.min
    last: dt.date = dt.date.max
    low: float = 0.0
    high: float = 1.0
    parts: list[str] = field(default_factory=list)

    def x(self, day: dt.date) -> float:
        span = max((self.last - self.first).days, 1)
        return self.left + (self.width - self.left - self.right) * (day - self.first).days / span

    def y(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        plot = self.height - self.top - self.bottom
        return self.top + plot * (1 - (value - self.low) / span)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round values covering ``low``..``high``."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high - step * 1e-9:  # the last tick covers the highest value
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def day_ticks(first: dt.date, last: dt.date, most: int = 9) -> list[dt.date]:
    """Days for the time axis: every 1, 2, 7, 14, 28… days, at most ``most`` of them."""
    span = (last - first).days
    step = next((s for s in (1, 2, 7, 14, 28, 56, 91, 182) if span / s <= most - 1), 365)
    return [first + dt.timedelta(days=d) for d in range(0, span + 1, step)]


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.0f}%"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_label: str,
    unit: str = "",
    y_range: tuple[float, float] | None = None,
    thresholds: Sequence[Threshold] = (),
    markers: Sequence[Marker] = (),
    width: int = 940,
    height: int = 260,
    empty: str = "no data yet",
) -> str:
    """An SVG line chart over days. ``unit="%"`` shows fractions as percentages on the axis."""
    days = [d for s in series for d, v in s.points if v is not None]
    days += [s.hold_until for s in series if s.hold_until and days]
    values = [v for s in series for d, v in s.points if v is not None]
    frame = _Frame(width, height)
    frame.parts += [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text class="title" x="{frame.left}" y="20">{escape(title)}</text>',
    ]
    if not days:
        frame.parts.append(
            f'<text class="empty" x="{width / 2}" y="{height / 2}" '
            f'text-anchor="middle">{escape(empty)}</text>'
        )
        return "\n".join([*frame.parts, "</svg>"])
    frame.first, frame.last = min(days), max(days)
    if frame.first == frame.last:
        frame.first -= dt.timedelta(days=1)
        frame.last += dt.timedelta(days=1)
    low, high = y_range or (min([0.0, *values]), max([*values, *(t.value for t in thresholds)]))
    ticks = nice_ticks(low, high)
    frame.low, frame.high = (low, high) if y_range else (ticks[0], ticks[-1])
    _axes(frame, ticks, y_label, unit)
    _markers(frame, markers)
    _thresholds(frame, thresholds, unit)
    for i, s in enumerate(series):
        _series(frame, s, s.color or PALETTE[i % len(PALETTE)], unit)
    _legend(frame, series)
    return "\n".join([*frame.parts, "</svg>"])


def _axes(frame: _Frame, ticks: list[float], y_label: str, unit: str) -> None:
    out, bottom, right = frame.parts, frame.height - frame.bottom, frame.width - frame.right
    for tick in ticks:
        if frame.low <= tick <= frame.high:
            y = frame.y(tick)
            out.append(f'<line class="grid" x1="{frame.left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
            out.append(
                f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{_fmt(tick, unit)}</text>'
            )
    for day in day_ticks(frame.first, frame.last):
        x = frame.x(day)
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}"/>')
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{bottom + 17}" text-anchor="middle">{day:%b %d}</text>'
        )
    out.append(f'<line class="axis" x1="{frame.left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    out.append(f'<line class="axis" x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" y2="{bottom}"/>')
    label = f"{y_label} ({unit})" if unit and unit != "%" else y_label
    out.append(
        f'<text class="label" transform="translate(14 {(frame.top + bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(label)}</text>'
    )
    out.append(f'<text class="label" x="{right}" y="{frame.height - 4}" text-anchor="end">day (UTC)</text>')


def _markers(frame: _Frame, markers: Sequence[Marker]) -> None:
    bottom = frame.height - frame.bottom
    for marker in markers:
        if frame.first <= marker.day <= frame.last:
            x = frame.x(marker.day)
            frame.parts.append(
                f'<line class="marker" x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{bottom}" '
                f'stroke="{marker.color}"/><text class="marker-label" x="{x + 3:.1f}" '
                f'y="{frame.top + 10}">{escape(marker.label)}</text>'
            )


def _thresholds(frame: _Frame, thresholds: Sequence[Threshold], unit: str) -> None:
    right = frame.width - frame.right
    for threshold in thresholds:
        if frame.low <= threshold.value <= frame.high:
            y = frame.y(threshold.value)
            # labelled at the left end: the legend is right-aligned above the plot, and a
            # threshold at the top of the axis would put a right-aligned label on top of it
            frame.parts.append(
                f'<line class="threshold" x1="{frame.left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                f'<text class="threshold-label" x="{frame.left + 4}" y="{y - 4:.1f}" '
                f'text-anchor="start">{escape(threshold.label)} {_fmt(threshold.value, unit)}</text>'
            )


def _series(frame: _Frame, s: Series, color: str, unit: str) -> None:
    """One polyline per run of consecutive days with values (a missing value, or a day with no
    figure at all, breaks the line: weeks without data are not drawn as a straight line), and the
    points. A step series holds its value across gaps: it is a state."""
    segments: list[list[str]] = [[]]
    previous: dt.date | None = None
    for day, value in s.points:
        gap = previous is not None and (day - previous).days > 1 and not s.step
        previous = day
        if value is None or gap:
            segments.append([])
        if value is not None:
            if s.step and segments[-1]:  # along at the previous value, then up or down
                segments[-1].append(f"{frame.x(day):.1f},{segments[-1][-1].split(',')[1]}")
            segments[-1].append(f"{frame.x(day):.1f},{frame.y(value):.1f}")
    if s.step and s.hold_until and segments[-1]:
        segments[-1].append(f"{frame.x(s.hold_until):.1f},{segments[-1][-1].split(',')[1]}")
    for seg in segments:
        if len(seg) > 1:
            frame.parts.append(f'<polyline class="line" points="{" ".join(seg)}" stroke="{color}"/>')
    for day, value in s.points:
        if value is not None:
            shown = f"{value * 100:.1f}%" if unit == "%" else f"{value:.4g}"
            frame.parts.append(
                f'<circle class="point" data-series="{escape(s.name)}" cx="{frame.x(day):.1f}" '
                f'cy="{frame.y(value):.1f}" r="2.8" fill="{color}">'
                f"<title>{escape(s.name)} {day.isoformat()}: {shown}</title></circle>"
            )


def _legend(frame: _Frame, series: Sequence[Series]) -> None:
    """One entry per series, right-aligned above the plot."""
    x = frame.width - frame.right
    for i, s in reversed(list(enumerate(series))):
        x -= 7 * len(s.name) + 22
        color = s.color or PALETTE[i % len(PALETTE)]
        frame.parts.append(
            f'<g class="legend"><rect x="{x}" y="28" width="12" height="4" fill="{color}"/>'
            f'<text x="{x + 16}" y="34">{escape(s.name)}</text></g>'
        )
