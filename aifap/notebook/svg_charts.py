"""The session dashboard's charts as SVG drawn in the kernel: a line, a donut and bars.

Why not plotly: in Voila each plotly ``FigureWidget`` ships its ~5 MB widget bundle
through the kernel's websocket and compiles it on every page load; that alone took
~7 CPU s of the browser per load (``benches/README.md``). These charts are plain
markup in an ``ipywidgets.HTML``: the page draws them with no script at all.

Interaction without a script: every point column, slice and bar is an ``aifap-hit``
group whose tooltip (its exact values) shows on hover through CSS (:data:`CHART_CSS`),
with an SVG ``<title>`` as well. Each chart carries its values in ``data-*``
attributes (``data-label``, ``data-value``, ``data-points``, ``data-last``), so
browser tests read exactly what is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

import numpy as np

AXIS, GRID, TIP_BG = "#A0A0A0", "#3A3A3A", "#111111"

CHART_CSS = f"""
.aifap-chart {{ width: 100%; height: auto; display: block; overflow: visible; }}
.aifap-chart text {{ fill: {AXIS}; font-size: 11px; font-family: inherit; }}
.aifap-chart .aifap-chart-title {{ fill: #FFFFFF; font-size: 15px; font-weight: 600; }}
.aifap-chart .aifap-tip {{ visibility: hidden; pointer-events: none; }}
.aifap-chart .aifap-tip rect {{ fill: {TIP_BG}; stroke: {GRID}; }}
.aifap-chart .aifap-tip text {{ fill: #FFFFFF; font-size: 12px; }}
.aifap-chart .aifap-hit:hover .aifap-tip {{ visibility: visible; }}
.aifap-chart .aifap-hit .aifap-mark {{ opacity: 0; }}
.aifap-chart .aifap-hit:hover .aifap-mark {{ opacity: 1; }}
.aifap-chart .aifap-hit:hover .aifap-shape {{ filter: brightness(1.3); }}
"""

HOVER_COLUMNS = 300  # the line's hover targets (each shows the last point it covers)


def _num(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _tip(x: float, y: float, lines: Sequence[str], width: float) -> str:
    # a tooltip box at (x, y), kept inside [0, width]
    w = 12 + 7 * max(len(line) for line in lines)
    left = min(max(x - w / 2, 0), width - w)
    h = 8 + 16 * len(lines)
    texts = "".join(
        f'<text x="{left + 6:.1f}" y="{y + 16 * (i + 1):.1f}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    return (
        f'<g class="aifap-tip"><rect x="{left:.1f}" y="{y:.1f}" width="{w}" height="{h}" '
        f'rx="4"/>{texts}</g>'
    )


def _frame(kind: str, width: int, height: int, title: str, body: str, attrs: str = "") -> str:
    return (
        f'<svg class="aifap-chart aifap-chart-{kind}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" preserveAspectRatio="xMidYMid meet"{attrs} '
        f'xmlns="http://www.w3.org/2000/svg"><text class="aifap-chart-title" x="4" y="18">'
        f"{escape(title)}</text>{body}</svg>"
    )


def _empty(kind: str, width: int, height: int, title: str, text: str) -> str:
    body = (
        f'<text class="aifap-chart-empty" x="{width / 2}" y="{height / 2}" '
        f'text-anchor="middle" style="font-size:16px">{escape(text)}</text>'
    )
    return _frame(kind, width, height, title, body, ' data-points="0"')


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Return round tick values covering ``[lo, hi]`` (about ``count`` of them)."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _time_label(ms: float, span_ms: float) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime("%H:%M" if span_ms <= 86_400_000 else "%m-%d %H:%M")


def line_chart(
    ts_ms: np.ndarray,
    values: np.ndarray,
    *,
    title: str,
    color: str,
    fill: str,
    unit: str = "USDT",
    empty: str = "No data yet",
    width: int = 1000,
    height: int = 340,
) -> str:
    """Return a time series as a filled line with axes and per-column hover values.

    Args:
        ts_ms: epoch milliseconds, ascending.
        values: one value per time.
        title: the chart's title.
        color: the line's colour.
        fill: the colour of the area under the line.
        unit: shown after the values in tooltips.
        empty: shown when there is no value.
        width: the SVG's width (it scales to its card).
        height: the SVG's height.
    """
    n = len(values)
    if n == 0:
        return _empty("line", width, height, title, empty)
    left, right, top, bottom = 70, 15, 34, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    t0, t1 = float(ts_ms[0]), float(ts_ms[-1])
    lo, hi = float(values.min()), float(values.max())
    pad = max((hi - lo) * 0.08, abs(hi) * 0.002, 1e-9)
    lo, hi = lo - pad, hi + pad
    span = (t1 - t0) or 1.0
    xs = left + (ts_ms.astype("float64") - t0) / span * plot_w
    if n == 1:
        xs = np.array([left + plot_w / 2])
    ys = top + (hi - values) / (hi - lo) * plot_h
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    base = top + plot_h
    area = f"M{xs[0]:.1f},{base:.1f} L" + points.replace(" ", " L") + f" L{xs[-1]:.1f},{base:.1f}Z"
    parts = []
    for tick in nice_ticks(lo, hi):
        y = top + (hi - tick) / (hi - lo) * plot_h
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">${tick:,.0f}</text>'
        )
    for i in range(6):
        ms = t0 + span * i / 5
        x = left + plot_w * i / 5
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}">'
            f"{_time_label(ms, span)}</text>"
        )
    parts.append(f'<path d="{area}" fill="{fill}" stroke="none"/>')
    parts.append(
        f'<polyline class="aifap-line" points="{points}" fill="none" stroke="{color}" '
        f'stroke-width="2" stroke-linejoin="round"/>'
    )
    columns = min(n, HOVER_COLUMNS)
    edges = np.linspace(left, width - right, columns + 1)
    last_in = np.searchsorted(xs, edges[1:], side="right") - 1  # last point of each column
    for c in range(columns):
        i = int(last_in[c])
        if i < 0 or (c and i == int(last_in[c - 1])):
            continue
        when = datetime.fromtimestamp(int(ts_ms[i]) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        lines = [f"{when} UTC", f"{_num(float(values[i]))} {unit}"]
        parts.append(
            f'<g class="aifap-hit" data-x="{int(ts_ms[i])}" data-y="{float(values[i])!r}">'
            f"<title>{escape(' · '.join(lines))}</title>"
            f'<rect class="aifap-hit-area" x="{edges[c]:.1f}" y="{top}" '
            f'width="{edges[c + 1] - edges[c]:.1f}" '
            f'height="{plot_h}" fill="transparent"/>'
            f'<circle class="aifap-mark" cx="{xs[i]:.1f}" cy="{ys[i]:.1f}" r="4" fill="{color}"/>'
            f"{_tip(float(xs[i]), top + 4, lines, width)}</g>"
        )
    attrs = (
        f' data-points="{n}" data-first="{float(values[0])!r}" data-last="{float(values[-1])!r}"'
        f' data-first-ms="{int(ts_ms[0])}" data-last-ms="{int(ts_ms[-1])}"'
    )
    return _frame("line", width, height, title, "".join(parts), attrs)


def _arc(cx: float, cy: float, r: float, hole: float, a0: float, a1: float) -> str:
    # a donut slice from angle a0 to a1 (radians, clockwise from 12 o'clock)
    if a1 - a0 >= 2 * math.pi - 1e-9:  # a whole ring: two half rings
        mid = a0 + math.pi
        return _arc(cx, cy, r, hole, a0, mid) + " " + _arc(cx, cy, r, hole, mid, a1)
    big = 1 if a1 - a0 > math.pi else 0

    def at(radius: float, angle: float) -> str:
        return f"{cx + radius * math.sin(angle):.2f},{cy - radius * math.cos(angle):.2f}"

    return (
        f"M{at(r, a0)} A{r},{r} 0 {big} 1 {at(r, a1)} L{at(hole, a1)} "
        f"A{hole},{hole} 0 {big} 0 {at(hole, a0)}Z"
    )


def pie_chart(
    labels: Sequence[str],
    values: Sequence[float],
    colors: Sequence[str],
    *,
    title: str,
    unit: str = "USDT",
    empty: str = "Nothing to show",
    width: int = 600,
    height: int = 330,
) -> str:
    """Return each value's share as a donut with a legend; hover shows value and share."""
    total = float(sum(values))
    if not labels or total <= 0:
        return _empty("pie", width, height, title, empty)
    r = min(height - 60, width * 0.55) / 2
    cx, cy, hole = 20 + r, 34 + (height - 34) / 2, r * 0.35
    parts, angle = [], 0.0
    legend_x, row_h = cx + r + 30, min(16.0, (height - 40) / len(labels))
    for k, (label, value, color) in enumerate(zip(labels, values, colors, strict=True)):
        share = float(value) / total
        end = angle + share * 2 * math.pi
        lines = [label, f"{_num(float(value))} {unit}", f"{share * 100:.1f}%"]
        mid = (angle + end) / 2
        text = ""
        if share >= 0.04:
            tr = (r + hole) / 2
            text = (
                f'<text x="{cx + tr * math.sin(mid):.1f}" y="{cy - tr * math.cos(mid) + 4:.1f}" '
                f'text-anchor="middle" style="fill:#FFFFFF;pointer-events:none">'
                f"{share * 100:.0f}%</text>"
            )
        parts.append(
            f'<g class="aifap-hit aifap-slice" data-label="{escape(label)}" '
            f'data-value="{float(value)!r}"><title>{escape(" · ".join(lines))}</title>'
            f'<path class="aifap-shape" d="{_arc(cx, cy, r, hole, angle, end)}" fill="{color}" '
            f'stroke="#2A2A2A" stroke-width="1.5"/>{text}'
            f"{_tip(cx, cy - 28, lines, width)}</g>"
        )
        y = 40 + k * row_h
        parts.append(
            f'<rect x="{legend_x:.1f}" y="{y:.1f}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 15:.1f}" y="{y + 9:.1f}">{escape(label)} '
            f"{share * 100:.1f}%</text>"
        )
        angle = end
    return _frame("pie", width, height, title, "".join(parts), f' data-points="{len(labels)}"')


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    colors: Sequence[str],
    *,
    title: str,
    unit: str = "USDT",
    empty: str = "Nothing to show",
    width: int = 600,
    height: int = 330,
) -> str:
    """Return horizontal bars, the first label on top, each value written at its bar's end."""
    if not labels:
        return _empty("bars", width, height, title, empty)
    left, right, top, bottom = 95, 70, 30, 22
    plot_w = width - left - right
    row = (height - top - bottom) / len(labels)
    most = max(max(abs(float(v)) for v in values), 1e-12)
    parts = []
    for tick in nice_ticks(0.0, most, 4):
        x = left + tick / most * plot_w
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - bottom}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{tick:,.0f}</text>'
        )
    for k, (label, value, color) in enumerate(zip(labels, values, colors, strict=True)):
        y = top + k * row
        w = abs(float(value)) / most * plot_w
        bar_h = max(row * 0.75, 1.0)
        lines = [label, f"{_num(float(value))} {unit}"]
        parts.append(
            f'<g class="aifap-hit aifap-bar" data-label="{escape(label)}" '
            f'data-value="{float(value)!r}"><title>{escape(" · ".join(lines))}</title>'
            f'<rect x="0" y="{y:.1f}" width="{width}" height="{row:.1f}" fill="transparent"/>'
            f'<text x="{left - 6}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="aifap-shape" x="{left}" y="{y:.1f}" width="{w:.1f}" '
            f'height="{bar_h:.1f}" fill="{color}"/>'
            f'<text x="{left + w + 4:.1f}" y="{y + bar_h / 2 + 4:.1f}">{float(value):,.0f}</text>'
            f"{_tip(left + w / 2, max(y - 44, 0), lines, width)}</g>"
        )
    return _frame("bars", width, height, title, "".join(parts), f' data-points="{len(labels)}"')
