"""Server-rendered SVG line charts: training and validation loss per epoch (the paper's figures
4 and 5), with axes, ticks, axis labels, a legend and one polyline per series. `Frame` owns the
scaffolding every chart of the site draws (the loss chart here, overlay.py's comparison): the
scales, the grid, the axes and their ticks, the labels.

Pure functions, no Flask: every piece of text is escaped, every number formatted here, so the
result can be inlined into a page or served as `image/svg+xml` as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

TRAIN_COLOR = "#2563eb"
VAL_COLOR = "#ea580c"
LIVE_COLOR = "#93c5fd"
AXIS_COLOR = "#6b7280"
GRID_COLOR = "#e5e7eb"
TEXT_COLOR = "#374151"
MARKER_LIMIT = 60  # draw a dot per point (with a tooltip) up to this many epochs
VAL_DASH = ' stroke-dasharray="6 3"'
INHERITED_OPACITY = 0.35  # the epochs a continued job takes over from its parent, drawn dimmed

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


def tick_decimals(step: float) -> int:
    """Decimals that tell ticks `step` apart (none for a step of 1 or more)."""
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0


def svg_number(value: float) -> str:
    """A coordinate: two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def svg_text(x: float, y: float, content: object, anchor: str = "middle", extra: str = "") -> str:
    """A `<text>` element, its content escaped."""
    return f'<text x="{svg_number(x)}" y="{svg_number(y)}" text-anchor="{anchor}"{extra}>{escape(str(content))}</text>'


@dataclass(frozen=True)
class Frame:
    """A chart's plot area inside the margins (LEFT, RIGHT, TOP, BOTTOM): whole epochs along x,
    nice ticks along y, and the scales from data to SVG coordinates."""

    width: int
    height: int
    plot_h: int
    x_lo: int
    x_hi: int
    y_lo: float
    y_hi: float
    x_ticks: list[int]
    y_ticks: list[float]

    @classmethod
    def fit(cls, width: int, height: int, plot_h: int, x_lo: int, x_hi: int, values: list[float]) -> Frame:
        """A frame for epochs `x_lo..x_hi` and the y `values` (0..1 when there are none)."""
        x_step = max(1, int(nice_step(x_hi - x_lo, 8)))
        x_ticks = list(range(math.ceil(x_lo / x_step) * x_step, x_hi + 1, x_step))
        y_lo, y_hi, y_ticks = nice_ticks(min(values), max(values)) if values else nice_ticks(0.0, 1.0)
        return cls(width, height, plot_h, x_lo, x_hi, y_lo, y_hi, x_ticks, y_ticks)

    @property
    def plot_w(self) -> int:
        return self.width - LEFT - RIGHT

    def sx(self, x: float) -> float:
        return LEFT + (x - self.x_lo) / (self.x_hi - self.x_lo) * self.plot_w

    def sy(self, y: float) -> float:
        return TOP + self.plot_h - (y - self.y_lo) / (self.y_hi - self.y_lo) * self.plot_h

    def coords(self, points: Iterable[tuple[float, float]]) -> str:
        """A polyline's `points`."""
        return " ".join(f"{svg_number(self.sx(x))},{svg_number(self.sy(y))}" for x, y in points)

    def center(self, x: float, y: float) -> str:
        """A circle's `cx` and `cy` attributes at the point (x, y)."""
        return f'cx="{svg_number(self.sx(x))}" cy="{svg_number(self.sy(y))}"'

    def opening(self, css_class: str, title: str) -> list[str]:
        """The `<svg>` tag, its title and its white background."""
        return [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" role="img" aria-label="{escape(title)}" '
            f'font-family="system-ui, sans-serif" font-size="12" fill="{TEXT_COLOR}">',
            f"<title>{escape(title)}</title>",
            f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="#ffffff"/>',
        ]

    def axes(self, title: str, x_label: str, y_label: str, *, tick_marks: bool) -> list[str]:
        """The grid, the axes (with `tick_marks`, short lines at the ticks), the tick labels, the
        axis labels and the title."""
        bottom, right, y_dec = TOP + self.plot_h, LEFT + self.plot_w, self.tick_decimals()
        parts = [f'<g class="grid" stroke="{GRID_COLOR}" stroke-width="1">']
        parts += [
            f'<line x1="{LEFT}" y1="{svg_number(self.sy(y))}" x2="{right}" y2="{svg_number(self.sy(y))}"/>'
            for y in self.y_ticks
        ]
        parts += ["</g>", f'<g class="axes" stroke="{AXIS_COLOR}" stroke-width="1">']
        parts += [
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>',
            f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        ]
        if tick_marks:
            parts += [
                f'<line x1="{LEFT - 5}" y1="{svg_number(self.sy(y))}" x2="{LEFT}" y2="{svg_number(self.sy(y))}"/>'
                for y in self.y_ticks
            ]
            parts += [
                f'<line x1="{svg_number(self.sx(x))}" y1="{bottom}" x2="{svg_number(self.sx(x))}" y2="{bottom + 5}"/>'
                for x in self.x_ticks
            ]
        parts += ["</g>", '<g class="tick-labels">']
        parts += [svg_text(LEFT - 8, self.sy(y) + 4, f"{y:.{y_dec}f}", anchor="end") for y in self.y_ticks]
        parts += [svg_text(self.sx(x), bottom + 18, x) for x in self.x_ticks]
        middle = TOP + self.plot_h / 2
        return parts + [
            "</g>",
            svg_text(LEFT + self.plot_w / 2, bottom + BOTTOM - 8, x_label, extra=' class="axis-label"'),
            svg_text(14, middle, y_label, extra=f' class="axis-label" transform="rotate(-90 14 {svg_number(middle)})"'),
            svg_text(LEFT, 18, title, anchor="start", extra=' class="chart-title" font-weight="600"'),
        ]

    def tick_decimals(self) -> int:
        """Decimals of the y tick labels."""
        return tick_decimals(self.y_ticks[1] - self.y_ticks[0]) if len(self.y_ticks) > 1 else 2

    def empty_note(self) -> str:
        """The note in the middle of a chart with nothing to draw."""
        middle = (LEFT + self.plot_w / 2, TOP + self.plot_h / 2)
        return svg_text(*middle, "no finished epochs yet", extra=' class="empty-note" fill="#9ca3af"')


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
    inherited: list[tuple[int, float | None, float | None]] | None = None,
    inherited_label: str = "parent job",
) -> str:
    """An `<svg>` element plotting `(epoch, loss, val_loss)` rows as two polylines.

    Rows may come in any order; a `None` (or NaN/inf) loss is left out of its series (the
    validation series is left out entirely when it has no value). No rows gives empty axes and
    a "no finished epochs yet" note; one row gives single-point series drawn as dots. `live`:
    (position in epochs, loss) points within epochs (2.5: half way through epoch 3), drawn as a
    thin line under the others, so a running job's curve moves before its first epoch ends.
    `inherited`: rows like `epochs` that a continued job takes over from the job it continues,
    drawn dimmed under its own, on the same epoch axis.
    """
    width, height = max(int(width), LEFT + RIGHT + 40), max(int(height), TOP + BOTTOM + 40)
    rows = sorted(((int(e), _finite(loss), _finite(val)) for e, loss, val in epochs), key=lambda r: r[0])
    train = [(e, loss) for e, loss, _ in rows if loss is not None]
    val = [(e, v) for e, _, v in rows if v is not None]
    live_points = sorted((float(x), y) for x, y in ((x, _finite(y)) for x, y in (live or [])) if y is not None)
    before = sorted(((int(e), _finite(loss), _finite(v)) for e, loss, v in (inherited or [])), key=lambda r: r[0])
    old_train = [(e, loss) for e, loss, _ in before if loss is not None]
    old_val = [(e, v) for e, _, v in before if v is not None]
    values = [v for _, v in train + val + old_train + old_val] + [v for _, v in live_points]

    # x: whole epochs; y: widened to nice ticks
    if rows or before:
        x_lo, x_hi = min(r[0] for r in rows + before), max(r[0] for r in rows + before)
        if x_lo == x_hi:
            x_lo, x_hi = x_lo - 1, x_hi + 1
    else:
        x_lo, x_hi = 0, 1
    if live_points:
        x_lo, x_hi = min(x_lo, math.floor(live_points[0][0])), max(x_hi, math.ceil(live_points[-1][0]))
    frame = Frame.fit(width, height, height - TOP - BOTTOM, x_lo, x_hi, values)
    parts = frame.opening("loss-chart", title) + frame.axes(title, x_label, y_label, tick_marks=True)

    # series: the parent's (dimmed) first, then the live points, then the job's own
    for css, color, points, dash in (("train", TRAIN_COLOR, old_train, ""), ("val", VAL_COLOR, old_val, VAL_DASH)):
        if points:
            parts.append(
                f'<polyline class="series inherited-{css}" points="{frame.coords(points)}" fill="none" '
                f'stroke="{color}" stroke-opacity="{INHERITED_OPACITY}" stroke-width="2" stroke-linejoin="round"{dash}>'
                f"<title>{escape(inherited_label)}</title></polyline>"
            )
    if live_points:
        coords = frame.coords(live_points)
        parts.append(
            f'<polyline class="series live" points="{coords}" fill="none" stroke="{LIVE_COLOR}" '
            f'stroke-width="1.5" stroke-linejoin="round"><title>{escape(live_label)}</title></polyline>'
        )
    series = [(train_label, TRAIN_COLOR, "train", train, "")]
    if val:
        series.append((val_label, VAL_COLOR, "val", val, VAL_DASH))
    for label, color, css, points, dash in series:
        if not points:
            continue
        coords = frame.coords(points)
        parts.append(
            f'<polyline class="series {css}" points="{coords}" fill="none" stroke="{color}" '
            f'stroke-width="2" stroke-linejoin="round"{dash}/>'
        )
        if len(points) <= MARKER_LIMIT:
            parts.append(f'<g class="markers {css}" fill="{color}">')
            for x, y in points:
                tip = escape(f"epoch {x}: {label} {y:.4f}")
                parts.append(f'<circle {frame.center(x, y)} r="3"><title>{tip}</title></circle>')
            parts.append("</g>")

    if not rows and not live_points and not before:
        parts.append(frame.empty_note())

    # legend, top right
    legend = [(train_label, TRAIN_COLOR, "")] + ([(val_label, VAL_COLOR, VAL_DASH)] if val else [])
    if live_points:
        legend.append((live_label, LIVE_COLOR, ""))
    if before:
        legend.append((inherited_label, TRAIN_COLOR, f' stroke-opacity="{INHERITED_OPACITY}"'))
    lx = width - RIGHT - 110 * len(legend)
    parts.append('<g class="legend">')
    for i, (label, color, dash) in enumerate(legend):
        x0 = lx + i * 110
        parts.append(f'<line x1="{x0}" y1="14" x2="{x0 + 22}" y2="14" stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(svg_text(x0 + 28, 18, label, anchor="start"))
    parts.append("</g>")

    parts.append("</svg>")
    return "\n".join(parts)
