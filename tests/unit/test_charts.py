"""The SVG charts: axes cover the data, missing values break lines, steps hold, text is escaped."""

from __future__ import annotations

import datetime as dt
import re

from sluice.charts import Marker, Series, Threshold, day_ticks, line_chart, nice_ticks

D = dt.date(2026, 1, 1)


def _days(values):
    return [(D + dt.timedelta(days=i), v) for i, v in enumerate(values)]


def test_ticks_cover_the_highest_value_with_round_steps():
    assert nice_ticks(0, 0.33) == [0, 0.1, 0.2, 0.3, 0.4]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 1000)[-1] >= 1000
    assert nice_ticks(5, 5)[-1] >= 5  # a flat series still gets an axis
    assert len(day_ticks(D, D + dt.timedelta(days=364))) <= 9


def test_points_lie_inside_the_plot_and_carry_tooltips():
    svg = line_chart("t", [Series("drift <share>", _days([0.1, 0.33, None, 0.2]))], y_label="share", unit="%")
    ys = [float(y) for y in re.findall(r'<circle[^>]* cy="([\d.]+)"', svg)]
    assert len(ys) == 3, "a missing value draws no point"
    assert all(44 <= y <= 260 - 40 for y in ys), "every point inside the plot area"
    assert svg.count("<polyline") == 1, "the missing day breaks the line; a lone point has no line"
    assert "drift &lt;share&gt; 2026-01-02: 33.0%" in svg
    assert "<share>" not in svg


def test_thresholds_markers_and_steps():
    svg = line_chart(
        "t",
        [Series("champion", _days([1, None, None, 3]), step=True)],
        y_label="version",
        thresholds=[Threshold(2.5, "alert above")],
        markers=[Marker(D + dt.timedelta(days=3), "v3")],
    )
    assert 'class="threshold"' in svg and "alert above 2.5" in svg
    assert ">v3</text>" in svg
    held = line_chart("t", [Series("champion", _days([1, 1, 3]), step=True)], y_label="v")
    (points,) = re.findall(r'points="([^"]+)"', held)
    pairs = [p.split(",") for p in points.split()]
    assert len(pairs) == 5, "a step adds a corner before each point after the first"
    assert pairs[3][0] == pairs[4][0] and pairs[3][1] == pairs[2][1], "along, then up"
    today = D + dt.timedelta(days=9)
    carried = line_chart("t", [Series("champion", _days([1, 3]), step=True, hold_until=today)], y_label="v")
    (points,) = re.findall(r'points="([^"]+)"', carried)
    assert len(points.split()) == 4 and carried.count("<circle") == 2, "held to today, no point there"
    assert "Jan 10" in carried or "Jan 09" in carried, "the time axis reaches today"


def test_an_empty_chart_says_so():
    svg = line_chart("Performance", [Series("accuracy", [])], y_label="score", empty="no labelled days yet")
    assert "no labelled days yet" in svg and "<circle" not in svg


def test_days_without_a_figure_break_the_line_but_a_state_holds_across_them():
    spring = [(D + dt.timedelta(days=i), 0.1) for i in range(5)]
    summer = [(D + dt.timedelta(days=150 + i), 0.2) for i in range(5)]
    svg = line_chart("t", [Series("drift share", spring + summer)], y_label="share")
    assert svg.count("<polyline") == 2, "no straight line drawn across the months without data"
    held = line_chart("t", [Series("champion", spring + summer, step=True)], y_label="v")
    assert held.count("<polyline") == 1


def _text_boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """(text, left, top, right, bottom) of each text drawn above or in the plot, 11px text taken
    as 7px a character (the width the legend lays out with)."""
    boxes = []
    for x_text, y_text, anchor, text in re.findall(
        r'<text[^>]* x="([\d.]+)" y="([\d.]+)"(?: text-anchor="(\w+)")?>([^<]*)</text>', svg
    ):
        x, y, width = float(x_text), float(y_text), 7 * len(text)
        left = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        boxes.append((text, left, y - 11, left + width, y))
    return boxes


def test_legend_threshold_labels_and_title_never_overlap():
    """Whatever the threshold (at the top of the axis included) and however long the legend."""
    for threshold in (0.05, 0.1, 0.3, 0.5, 1.0):
        for names in (["drift share"], ["accuracy", "ROC AUC", "served accuracy (7-day window)"]):
            svg = line_chart(
                "Data drift",
                [Series(n, _days([0.1, 0.3, 0.5])) for n in names],
                y_label="share",
                thresholds=[Threshold(threshold, "alert above")],
            )
            top = [b for b in _text_boxes(svg) if b[2] < 60]  # the title, legend and top labels
            for i, a in enumerate(top):
                for b in top[i + 1 :]:
                    apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
                    assert apart, f"{a[0]!r} overlaps {b[0]!r} (threshold {threshold})"
