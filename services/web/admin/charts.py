"""Server-rendered SVG line charts: training and validation loss per epoch (the paper's figures
4 and 5), with axes, ticks, axis labels, a legend and one polyline per series.

Pure functions, no Flask: every piece of text is escaped, every number formatted here, so the
result can be inlined into a page or served as `image/svg+xml` as it is.
"""

from __future__ import annotations

import math
from html import escape

TRAIN_COLOR = "#2563eb"
VAL_COLOR = "#ea580c"
LIVE_COLOR = "#93c5fd"
AXIS_COLOR = "#6b7280"
GRID_COLOR = "#e5e7eb"
TEXT_COLOR = "#374151"
MARKER_LIMIT = 60  # draw a dot per point (with a tooltip) up to this many epochs

# plot area margins inside the SVG
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 34, 46


def _finite(value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def nice_step(span: float, target_ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about `target_ticks` ticks over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target_ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power


def nice_ticks(lo: float, hi: float, target_ticks: int = 5) -> tuple[float, float, list[float]]:
    """(lo', hi', ticks): the range widened to whole steps, and the tick values in it."""
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = max(abs(lo) * 0.1, 0.1)
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target_ticks)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    count = int(round((stop - start) / step))
    ticks = [start + i * step for i in range(count + 1)]
    return start, stop, ticks


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0


def _num(value: float) -> str:
    """A coordinate: two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def loss_chart_svg(
    epochs: list[tuple[int, float | None, float | None]],
    width: int = 640,
    height: int = 320,
    *,
    title: str = "Loss per epoch",
    y_label: str = "loss (bits/char)",
    x_label: str = "epoch",
    train_label: str = "training",
    val_label: str = "validation",
    live: list[tuple[float, float]] | None = None,
    live_label: str = "training (live)",
) -> str:
    """An `<svg>` element plotting `(epoch, loss, val_loss)` rows as two polylines.

    Rows may come in any order; a `None` (or NaN/inf) loss is left out of its series (the
    validation series is left out entirely when it has no value). No rows gives empty axes and
    a "no finished epochs yet" note; one row gives single-point series drawn as dots. `live`:
    (position in epochs, loss) points within epochs (2.5: half way through epoch 3), drawn as a
    thin line under the others, so a running job's curve moves before its first epoch ends.
    """
    width, height = max(int(width), LEFT + RIGHT + 40), max(int(height), TOP + BOTTOM + 40)
    rows = sorted(((int(e), _finite(loss), _finite(val)) for e, loss, val in epochs), key=lambda r: r[0])
    train = [(e, loss) for e, loss, _ in rows if loss is not None]
    val = [(e, v) for e, _, v in rows if v is not None]
    live_points = sorted((float(x), y) for x, y in ((x, _finite(y)) for x, y in (live or [])) if y is not None)
    values = [v for _, v in train] + [v for _, v in val] + [v for _, v in live_points]

    # x: whole epochs; y: widened to nice ticks
    if rows:
        x_lo, x_hi = rows[0][0], rows[-1][0]
        if x_lo == x_hi:
            x_lo, x_hi = x_lo - 1, x_hi + 1
    else:
        x_lo, x_hi = 0, 1
    if live_points:
        x_lo, x_hi = min(x_lo, math.floor(live_points[0][0])), max(x_hi, math.ceil(live_points[-1][0]))
    x_step = max(1, int(nice_step(x_hi - x_lo, 8)))
    x_ticks = list(range(math.ceil(x_lo / x_step) * x_step, x_hi + 1, x_step))
    if values:
        y_lo, y_hi, y_ticks = nice_ticks(min(values), max(values))
    else:
        y_lo, y_hi, y_ticks = nice_ticks(0.0, 1.0)
    y_dec = _decimals(y_ticks[1] - y_ticks[0]) if len(y_ticks) > 1 else 2

    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    def text(x, y, content, anchor="middle", extra=""):
        return f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"{extra}>{escape(str(content))}</text>'

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="loss-chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'font-family="system-ui, sans-serif" font-size="12" fill="{TEXT_COLOR}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]

    # grid, ticks and tick labels
    parts.append(f'<g class="grid" stroke="{GRID_COLOR}" stroke-width="1">')
    for y in y_ticks:
        parts.append(f'<line x1="{LEFT}" y1="{_num(sy(y))}" x2="{LEFT + plot_w}" y2="{_num(sy(y))}"/>')
    parts.append("</g>")
    parts.append(f'<g class="axes" stroke="{AXIS_COLOR}" stroke-width="1">')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>')
    for y in y_ticks:
        parts.append(f'<line x1="{LEFT - 5}" y1="{_num(sy(y))}" x2="{LEFT}" y2="{_num(sy(y))}"/>')
    for x in x_ticks:
        parts.append(f'<line x1="{_num(sx(x))}" y1="{TOP + plot_h}" x2="{_num(sx(x))}" y2="{TOP + plot_h + 5}"/>')
    parts.append("</g>")
    parts.append('<g class="tick-labels">')
    for y in y_ticks:
        parts.append(text(LEFT - 8, sy(y) + 4, f"{y:.{y_dec}f}", anchor="end"))
    for x in x_ticks:
        parts.append(text(sx(x), TOP + plot_h + 18, x))
    parts.append("</g>")

    # axis labels and title
    parts.append(text(LEFT + plot_w / 2, height - 8, x_label, extra=' class="axis-label"'))
    parts.append(
        text(
            14,
            TOP + plot_h / 2,
            y_label,
            extra=f' class="axis-label" transform="rotate(-90 14 {_num(TOP + plot_h / 2)})"',
        )
    )
    parts.append(text(LEFT, 18, title, anchor="start", extra=' class="chart-title" font-weight="600"'))

    # series
    if live_points:
        coords = " ".join(f"{_num(sx(x))},{_num(sy(y))}" for x, y in live_points)
        parts.append(
            f'<polyline class="series live" points="{coords}" fill="none" stroke="{LIVE_COLOR}" '
            f'stroke-width="1.5" stroke-linejoin="round"><title>{escape(live_label)}</title></polyline>'
        )
    series = [(train_label, TRAIN_COLOR, "train", train, "")]
    if val:
        series.append((val_label, VAL_COLOR, "val", val, ' stroke-dasharray="6 3"'))
    for label, color, css, points, dash in series:
        if not points:
            continue
        coords = " ".join(f"{_num(sx(x))},{_num(sy(y))}" for x, y in points)
        parts.append(
            f'<polyline class="series {css}" points="{coords}" fill="none" stroke="{color}" '
            f'stroke-width="2" stroke-linejoin="round"{dash}/>'
        )
        if len(points) <= MARKER_LIMIT:
            parts.append(f'<g class="markers {css}" fill="{color}">')
            for x, y in points:
                tip = escape(f"epoch {x}: {label} {y:.4f}")
                parts.append(f'<circle cx="{_num(sx(x))}" cy="{_num(sy(y))}" r="3"><title>{tip}</title></circle>')
            parts.append("</g>")

    if not rows and not live_points:
        parts.append(
            text(
                LEFT + plot_w / 2,
                TOP + plot_h / 2,
                "no finished epochs yet",
                extra=' class="empty-note" fill="#9ca3af"',
            )
        )

    # legend, top right
    legend = [(train_label, TRAIN_COLOR, "")] + ([(val_label, VAL_COLOR, ' stroke-dasharray="6 3"')] if val else [])
    if live_points:
        legend.append((live_label, LIVE_COLOR, ""))
    lx = width - RIGHT - 110 * len(legend)
    parts.append('<g class="legend">')
    for i, (label, color, dash) in enumerate(legend):
        x0 = lx + i * 110
        parts.append(f'<line x1="{x0}" y1="14" x2="{x0 + 22}" y2="14" stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(text(x0 + 28, 18, label, anchor="start"))
    parts.append("</g>")

    parts.append("</svg>")
    return "\n".join(parts)
