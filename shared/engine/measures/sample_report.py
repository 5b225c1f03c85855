"""The figures stored and printed with every sample: `measure_text` runs the engine's quality
(`quality.measure_quality`) and novelty (`novelty.CorpusIndex.novelty`) measures on one generated
text against the corpus's profile (`corpus_profile.profile_corpus`; `looks_like_python` says
whether the Python measures apply to a corpus), `cap_spans` keeps a novelty record small (the
longest copied spans only), `summary` is the one line the CLI prints.

Used by the sampling worker (stored on the sample) and by `charlstm sample` (printed)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..inference.sample import Sampler
from .corpus_profile import looks_like_python
from .novelty import CorpusIndex
from .quality import measure_quality
from .verdict import CorpusProfile

__all__ = ["BITS_CHARS", "MAX_SPANS", "cap_spans", "counts_of_bytes", "looks_like_python", "measure_text", "summary"]

MAX_SPANS = 200  # copied spans kept per text (the longest), enough to highlight a sample
BITS_CHARS = 10_000  # characters of a text its bits/char is measured on (one float32 pass over them)


def counts_of_bytes(data: bytes | np.ndarray) -> dict[str, int]:
    """Character counts of a cleaned (ASCII) corpus given as bytes: what char_divergence compares."""
    array = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    counts = np.bincount(array, minlength=256)
    return {chr(b): int(n) for b, n in enumerate(counts.tolist()) if n}


def cap_spans(novelty: dict, max_spans: int = MAX_SPANS) -> dict:
    """A Novelty.to_dict() with only its `max_spans` longest spans (in text order); `spans_total`
    says how many there were (copied_chars still counts them all)."""
    spans = novelty.get("spans") or []
    kept = sorted(sorted(spans, key=lambda s: (s[0] - s[1], s[0]))[:max_spans])
    return {**novelty, "spans": [list(s) for s in kept], "spans_total": len(spans)}


def measure_text(
    text: str,
    *,
    sampler: Sampler | None = None,
    python: bool = False,
    corpus_counts: Mapping[str, int] | None = None,
    corpus: CorpusProfile | None = None,
    index: CorpusIndex | None = None,
    max_spans: int = MAX_SPANS,
    bits_chars: int | None = BITS_CHARS,
) -> tuple[dict, dict | None]:
    """(quality, novelty) of one generated text as JSON-ready dicts: `Quality.to_dict()` (Python
    measures only when `python`; the verdict against `corpus`, the corpus's profile) plus
    `bits_chars`, and the novelty against `index` with its spans capped (None without an index).

    bits/char is measured on the first `bits_chars` characters (None: all): teacher-forcing the
    float32 model costs about as much as generating with it, several times the int8 path's
    generation for a large model, and 10,000 characters give the figure to about 0.01 bits."""
    head = text if bits_chars is None else text[:bits_chars]
    quality = measure_quality(text, python=python, corpus_counts=corpus_counts, corpus=corpus).to_dict()
    if sampler is not None:
        quality["bits_per_char"] = measure_quality(head, python=False, sampler=sampler).bits_per_char
    quality["bits_chars"] = len(head) if quality["bits_per_char"] is not None else None
    novelty = cap_spans(index.novelty(text).to_dict(), max_spans) if index is not None else None
    return quality, novelty


def _share(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def summary(quality: Mapping, novelty: Mapping | None = None) -> str:
    """One line of figures: the verdict and its reason, the model's confidence (bits/char of the
    text under the model that wrote it), the Python measures when present, the repetition measures,
    the character divergence, and the novelty when known."""
    parts = []
    if quality.get("verdict") is not None:
        parts.append(f"{quality['verdict']} ({quality.get('verdict_reason')})")
    if quality.get("bits_per_char") is not None:
        parts.append(f"model's confidence {quality['bits_per_char']:.3f} bits/char")
    if quality.get("blocks") is not None:
        blocks = quality["blocks"]
        parts.append(
            f"{_share(quality.get('parse_rate'))} of {blocks} blocks parse" if blocks else "no top-level blocks"
        )
        parts.append(f"{_share(quality.get('balanced_lines'))} lines balanced")
        parts.append(f"{_share(quality.get('indent_multiple_of_4'))} indents x4")
        parts.append(f"{_share(quality.get('identifiers_defined'))} names defined")
    if quality.get("repeated_share") is not None:
        parts.append(f"{_share(quality['repeated_share'])} in repeated runs")
    if quality.get("distinct_ngrams_ratio") is not None:
        parts.append(f"distinct 8-grams {quality['distinct_ngrams_ratio']:.2f}x the corpus's")
    if quality.get("char_divergence") is not None:
        parts.append(f"char divergence {quality['char_divergence']:.3f} bits")
    if novelty is not None:
        parts.append(f"{_share(novelty.get('copied_lines'))} lines copied")
        parts.append(f"longest copy {novelty.get('longest_copy', 0)} chars")
    return ", ".join(parts) if parts else "no figures"
