"""Small self-made SVG charts (line and point series, stacked bar) for the self-contained HTML report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


@dataclass
class Series:
    """One curve: points drawn in the given order (x may repeat, e.g. micro-batches of one step)."""

    name: str
    points: list[tuple[float, float]]
    color: str = ""
    lines: bool = True
    markers: bool = False
    skipped: int = field(default=0)  # points that could not be drawn (NaN/Inf), shown in the legend


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [low, high] (whole numbers only when integer, e.g. steps and epochs)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high == low:
        pad = 1 if integer else (abs(high) or 1) * 0.5
        high, low = high + pad, low - pad
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, math.ceil(step))
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 0.5:
        ticks.append(round(value, 12))
        value += step
    return ticks


def format_number(value: float, step: float | None = None) -> str:
    """A tick label; with the tick spacing given, just enough decimals to tell neighbouring ticks apart."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.3g}"
    if step is not None and step > 0:
        exponent = math.floor(math.log10(step * 1.000001))
        mantissa = round(step / 10**exponent, 3)
        decimals = max(0, -exponent + (0 if mantissa == round(mantissa) else 1))
        return f"{value:.{decimals}f}"
    if magnitude >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.4g}"


def finite_series(name: str, points, **options) -> Series:
    """A Series from (x, y) pairs, leaving out pairs that are not finite and counting them."""
    good = [(float(x), float(y)) for x, y in points if _finite(x) and _finite(y)]
    return Series(name, good, skipped=len(points) - len(good), **options)


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


def line_chart(series: list[Series], title: str, x_label: str, y_label: str, width: int = 680, height: int = 260,
               integer_x: bool = False, x_from_zero: bool = False) -> str:
    """An SVG chart of the series; each curve is one <polyline> with a data-points count."""
    drawn = [s for s in series if s.points]
    for index, item in enumerate(series):
        item.color = item.color or PALETTE[index % len(PALETTE)]
    left, right, top, bottom = 64, 16, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
         f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'),
        f'<text x="{left}" y="16" class="title">{escape(title)}</text>',
    ]
    if not drawn:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">no data</text></svg>')
        return "".join(parts)
    xs = [x for s in drawn for x, _ in s.points] + ([0.0] if x_from_zero else [])
    ys = [y for s in drawn for _, y in s.points]
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs), integer=integer_x), nice_ticks(min(ys), max(ys))
    x0, x1 = min(x_ticks[0], min(xs)), max(x_ticks[-1], max(xs))
    y0, y1 = min(y_ticks[0], min(ys)), max(y_ticks[-1], max(ys))

    def sx(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h

    parts.append(_axes(x_ticks, y_ticks, sx, sy, left, top, plot_w, plot_h))
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" class="label">{escape(x_label)}</text>')
    parts.append(
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle" class="label">'
        f"{escape(y_label)}</text>"
    )
    for item in drawn:
        parts.append(_series_svg(item, sx, sy))
    parts.append(_legend(series, left + plot_w, top))
    parts.append("</svg>")
    return "".join(parts)


def _axes(x_ticks, y_ticks, sx, sy, left, top, plot_w, plot_h) -> str:
    out = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else None
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else None
    for tick in y_ticks:
        y = sy(tick)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{format_number(tick, y_step)}</text>')
    for tick in x_ticks:
        x = sx(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" class="tick">{format_number(tick, x_step)}</text>')
    return "".join(out)


def _series_svg(item: Series, sx, sy) -> str:
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in item.points)
    name = escape(item.name)
    out = [f'<g class="series" data-series="{name}" data-points="{len(item.points)}">']
    if item.lines:
        out.append(f'<polyline fill="none" stroke="{item.color}" stroke-width="1.6" points="{coords}"/>')
    if item.markers or len(item.points) == 1:
        for x, y in item.points:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{item.color}"><title>{name}: '
                       f"x={format_number(x)} y={y:.6g}</title></circle>")
    out.append("</g>")
    return "".join(out)


def _legend(series: list[Series], right_edge: float, top: float) -> str:
    out, y = [f'<rect x="{right_edge - 256}" y="{top + 2}" width="254" height="{15 * len(series) + 4}" class="legend-box"/>'], top + 14
    for item in series:
        label = f"{item.name} ({len(item.points)} points"
        label += f", {item.skipped} not finite, not drawn)" if item.skipped else ")"
        out.append(f'<rect x="{right_edge - 250}" y="{y - 9}" width="10" height="10" fill="{item.color}"/>')
        out.append(f'<text x="{right_edge - 236}" y="{y}" class="legend">{escape(label)}</text>')
        y += 15
    return "".join(out)


def stacked_bar(parts: list[tuple[str, float]], width: int = 680, height: int = 54) -> str:
    """One horizontal bar split by share (e.g. wall time per phase), with a legend below it."""
    total = sum(value for _, value in parts if value and value > 0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    if total <= 0:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">no timing data</text></svg>')
        return "".join(out)
    x, legend_x = 0.0, 0.0
    for index, (name, value) in enumerate(parts):
        if not value or value <= 0:
            continue
        color = PALETTE[index % len(PALETTE)]
        share = value / total * width
        out.append(f'<rect x="{x:.1f}" y="0" width="{share:.1f}" height="22" fill="{color}" data-phase="{escape(name)}">'
                   f"<title>{escape(name)}: {value:.1f} s</title></rect>")
        out.append(f'<rect x="{legend_x:.1f}" y="34" width="10" height="10" fill="{color}"/>')
        label = f"{name} {value:.0f} s ({value / total:.0%})" if value >= 10 else f"{name} {value:.1f} s ({value / total:.0%})"
        out.append(f'<text x="{legend_x + 14:.1f}" y="43" class="legend">{escape(label)}</text>')
        x += share
        legend_x += 14 + 7 * len(label) + 16
    out.append("</svg>")
    return "".join(out)
