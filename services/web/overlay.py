"""A server-rendered SVG of several runs' validation curves overlaid (the comparison page and the
study's report): one colour per run, the smoothed curve solid over the raw one drawn faint (as
TensorBoard does), a legend under the plot. Pure: text escaped and numbers formatted here."""

from __future__ import annotations

import math
from html import escape

from .charts import BOTTOM, LEFT, TOP, Frame, svg_text

PALETTE = (
    "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2",
    "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488",
)  # fmt: skip
LEGEND_ROW, LEGEND_COLUMN = 18, 220


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def overlay_chart_svg(
    curves: list[dict],
    width: int = 760,
    height: int = 360,
    *,
    title: str = "Validation bits/char",
    y_label: str = "validation loss (bits/char)",
    smoothed: bool = False,
) -> str:
    """`curves`: shared.research.comparison's curves (`id`, `label`, `val_bits`, `val_bits_smoothed`,
    `live_bits`); the validation curve per run, smoothed when asked, and, for runs without a
    finished epoch yet, their live training loss (dotted), so a new sweep's chart moves too.
    Optional per curve: `group` (curves of one group share a colour, e.g. a variant's seeds) and
    `dashed`."""
    groups: dict = {}
    palette = [color(groups.setdefault(c.get("group", ("run", i)), len(groups))) for i, c in enumerate(curves)]
    columns = max(1, (width - LEFT) // LEGEND_COLUMN)
    legend_rows = math.ceil(len(curves) / columns) if curves else 0
    plot_h = max(height - TOP - BOTTOM, 80)
    height = TOP + plot_h + BOTTOM + legend_rows * LEGEND_ROW

    drawn = []
    for i, curve in enumerate(curves):
        raw = [(float(x), float(y)) for x, y in curve.get("val_bits") or []]
        smooth = [(float(x), float(y)) for x, y in curve.get("val_bits_smoothed") or []] if smoothed else []
        live = [] if raw else [(float(x), float(y)) for x, y in curve.get("live_bits") or []]
        drawn.append((i, curve, raw, smooth, live))
    xs = [x for *_, raw, smooth, live in drawn for x, _ in raw + live]
    ys = [y for *_, raw, smooth, live in drawn for _, y in raw + smooth + live]
    x_lo, x_hi = (math.floor(min(xs)), math.ceil(max(xs))) if xs else (0, 1)
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    frame = Frame.fit(width, height, plot_h, x_lo, x_hi, ys)

    def line(points, stroke, extra=""):
        return (
            f'<polyline points="{frame.coords(points)}" fill="none" stroke="{stroke}" stroke-linejoin="round"{extra}/>'
        )

    parts = frame.opening("overlay-chart", title) + frame.axes(title, "epoch", y_label, tick_marks=False)
    for i, curve, raw, smooth, live in drawn:
        stroke, dash = palette[i], ' stroke-dasharray="6 3"' if curve.get("dashed") else ""
        parts.append(
            f'<g class="run" data-id="{escape(str(curve.get("id")))}"><title>{escape(curve.get("label", ""))}</title>'
        )
        if raw:
            faint = ' stroke-width="1" stroke-opacity="0.35"' if smooth else ' stroke-width="2"'
            parts.append(line(raw, stroke, f' class="series val"{faint}{dash}'))
            if smooth:
                parts.append(line(smooth, stroke, f' class="series smoothed" stroke-width="2"{dash}'))
            if len(raw) == 1:
                x, y = raw[0]
                parts.append(f'<circle {frame.center(x, y)} r="3" fill="{stroke}"/>')
        elif live:
            parts.append(line(live, stroke, ' class="series live" stroke-width="1.5" stroke-dasharray="2 3"'))
        parts.append("</g>")
    if not any(raw or live for _, _, raw, _, live in drawn):
        parts.append(frame.empty_note())
    parts.append('<g class="legend">')
    for i, curve, *_ in drawn:
        row, col = divmod(i, columns)
        x0, y0 = LEFT + col * LEGEND_COLUMN, TOP + plot_h + BOTTOM + row * LEGEND_ROW + 4
        dash = ' stroke-dasharray="6 3"' if curve.get("dashed") else ""
        parts.append(
            f'<line x1="{x0}" y1="{y0}" x2="{x0 + 22}" y2="{y0}" stroke="{palette[i]}" stroke-width="3"{dash}/>'
        )
        label = str(curve.get("label", ""))
        parts.append(svg_text(x0 + 28, y0 + 4, label if len(label) <= 30 else label[:29] + "\u2026", anchor="start"))
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
