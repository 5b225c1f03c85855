"""A sample's figures as page labels (admin and user pages): its checkpoint epoch, precision and
options, and each text's quality and novelty (stored on the sample by the sampling worker), and
a text cut into plain and copied segments for highlighting."""

from __future__ import annotations

from shared.db.models import Sample

DASH = "\u2014"


def _pct(value) -> str:
    return DASH if value is None else f"{100 * value:.0f}%"


def _bits(value) -> str:
    return DASH if value is None else f"{value:.3f}"


def options_label(sample: Sample) -> str:
    parts = []
    if sample.top_k is not None:
        parts.append(f"top-k {sample.top_k}")
    if sample.top_p is not None:
        parts.append(f"top-p {sample.top_p:g}")
    return ", ".join(parts)


def sample_figure_rows(sample: Sample) -> list[dict]:
    """One row per text (in the download's order): name, temperature and formatted figures."""
    novelty = {n.get("name"): n for n in sample.novelty or []}
    rows = []
    for q in sample.quality or []:
        n = novelty.get(q.get("name")) or {}
        temperature = q.get("temperature")
        rows.append(
            {
                "name": q.get("name"),
                "temperature": temperature,
                "temperature_label": DASH
                if temperature is None
                else ("0 (greedy)" if temperature == 0 else f"{temperature:g}"),
                "chars": q.get("chars"),
                "verdict": q.get("verdict"),
                "verdict_label": q.get("verdict") or DASH,
                "verdict_reason": q.get("verdict_reason") or "",
                "bits_label": _bits(q.get("bits_per_char")),
                "blocks": q.get("blocks"),
                "parse_label": _pct(q.get("parse_rate")),
                "balanced_label": _pct(q.get("balanced_lines")),
                "indent_label": _pct(q.get("indent_multiple_of_4")),
                "defined_label": _pct(q.get("identifiers_defined")),
                "divergence_label": _bits(q.get("char_divergence")),
                "copied_label": _pct(n.get("copied_lines")) if n else DASH,
                "longest_copy_label": f"{n['longest_copy']:,}" if n.get("longest_copy") is not None else DASH,
                "copied_chars_label": f"{n['copied_chars']:,}" if n.get("copied_chars") is not None else DASH,
                "spans": n.get("spans") or [],
            }
        )
    return rows


def figure_labels(sample: Sample) -> dict:
    """The sample row's extra columns: one value per text, joined with " / "."""
    rows = sample_figure_rows(sample)

    def joined(key: str) -> str:
        return " / ".join(r[key] for r in rows) if rows else DASH

    return {
        "epoch": sample.epoch if sample.epoch is not None else DASH,
        "precision": sample.precision or DASH,
        "options_label": options_label(sample) or DASH,
        "verdict_label": joined("verdict_label"),
        "bits_label": joined("bits_label"),
        "parse_label": joined("parse_label"),
        "balanced_label": joined("balanced_label"),
        "copied_label": joined("copied_label"),
        "longest_copy_label": joined("longest_copy_label"),
    }


def segments(text: str, spans: list) -> list[tuple[str, bool]]:
    """`text` cut into (piece, copied) segments by the copied [start, end) spans (sorted, may run
    past the text's end when the text shown is a prefix)."""
    out: list[tuple[str, bool]] = []
    at = 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        start, end = max(start, at), min(end, len(text))
        if start >= end:
            continue
        if start > at:
            out.append((text[at:start], False))
        out.append((text[start:end], True))
        at = end
    if at < len(text):
        out.append((text[at:], False))
    return out
