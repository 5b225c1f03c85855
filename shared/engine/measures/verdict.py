"""One verdict per generated text, from measures that compare it with its corpus rather than with
itself (bits/char under the model that wrote a text is that model's confidence: a collapsed model
writing spaces is confident), with a one-line reason.

The verdicts, in order (each one passes every test of the ones before it):

- `degenerate`: the text repeats itself: REPEAT_MARGIN more of it in repeated runs than the corpus
  (and at least REPEAT_FLOOR), or fewer than LOW_VARIETY times the corpus's distinct 8-character
  windows at the same length, or nothing but whitespace;
- `text`: varied, but not the corpus's kind of text: its characters diverge from the corpus's
  (FOREIGN bits and more) or, for a Python corpus, its lines do not balance or indent as the
  corpus's do (SHAPE_MARGIN under the corpus's shares). For a corpus that is not Python it is the
  best verdict. High variety alone is no sign of noise: a model sampled at temperature 1 invents
  more distinct windows (1.9 times the corpus's, measured) than characters shuffled from the corpus
  (1.8), so noise is told apart by its shape, not by its variety;
- `python-shaped`: lines balance and indent as the corpus's, but fewer than PARSE_SHARE of its
  top-level blocks parse (or it has none);
- `parses`: PARSE_SHARE or more of its top-level blocks parse.

Without a corpus profile the corpus-relative tests use DEFAULT_PROFILE's shares (the built-in
corpus's, rounded down) and skip what needs the corpus itself (divergence, distinct windows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .repetition import LADDER, distinct_ngrams, ladder_share

__all__ = ["DEFAULT_PROFILE", "VERDICTS", "CorpusProfile", "Judged", "judge", "ngrams_ratio"]

VERDICTS = ("degenerate", "text", "python-shaped", "parses")
REPEAT_FLOOR = 0.25
REPEAT_MARGIN = 0.15
LOW_VARIETY = 0.25  # real code windows go down to about 0.35 times the median
FOREIGN = 0.3  # real code of another style reaches about 0.2 over 2,000 characters
SHAPE_MARGIN = 0.3  # docstrings of other styles indent by other widths
PARSE_SHARE = 0.5


@dataclass(frozen=True)
class CorpusProfile:
    """A corpus's own figures, computed once per corpus (`corpus_profile.profile_corpus`): what a
    generated text is compared with. Shares are None where the corpus has nothing to count."""

    counts: dict[str, int] = field(default_factory=dict)  # character counts (char_divergence)
    python: bool = False  # looks_like_python: the Python measures apply
    repeated_share: float | None = None
    ngram_ladder: tuple[tuple[int, float], ...] = ()  # (window length, distinct 8-gram share)
    balanced_lines: float | None = None
    indent_multiple_of_4: float | None = None
    parse_rate: float | None = None


# the built-in (stdlib) corpus's figures, rounded down: the reference where no corpus is given
DEFAULT_PROFILE = CorpusProfile(python=True, repeated_share=0.02, balanced_lines=0.9, indent_multiple_of_4=0.95)


@dataclass(frozen=True)
class Judged:
    verdict: str
    reason: str


def ngrams_ratio(text: str, profile: CorpusProfile) -> float | None:
    """The text's distinct 8-gram share over the corpus's at the same length (its first LADDER[-1]
    characters; None: too short, or no corpus ladder)."""
    head = text[: LADDER[-1]]
    own, corpus = distinct_ngrams(head), ladder_share(profile.ngram_ladder, len(head))
    return None if own is None or not corpus else own / corpus


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _degenerate(text: str, figures: dict, profile: CorpusProfile) -> str | None:
    if not text.strip():
        return "nothing but whitespace"
    repeated, reference = figures.get("repeated_share"), profile.repeated_share or 0.0
    if repeated is not None and repeated >= max(REPEAT_FLOOR, reference + REPEAT_MARGIN):
        return f"{_pct(repeated)} of the text is runs of a character, a short unit or a line (corpus {_pct(reference)})"
    ratio = figures.get("distinct_ngrams_ratio")
    if ratio is not None and ratio < LOW_VARIETY:
        return f"{ratio:.2f} times the corpus's distinct 8-character windows: it loops"
    return None


def _foreign(figures: dict) -> str | None:
    divergence = figures.get("char_divergence")
    if divergence is not None and divergence >= FOREIGN:
        return f"its characters are not the corpus's (divergence {divergence:.2f} bits)"
    return None


def _shape(figures: dict, profile: CorpusProfile) -> tuple[bool, str]:
    """(whether lines balance and indent as the corpus's do, the figures said in words)."""
    balanced, indent = figures.get("balanced_lines"), figures.get("indent_multiple_of_4")
    if balanced is None or indent is None:
        return False, "no indented line" if indent is None else "no line"
    reference = profile if profile.balanced_lines is not None else DEFAULT_PROFILE
    ref_balanced, ref_indent = reference.balanced_lines or 0.0, reference.indent_multiple_of_4 or 0.0
    words = (f"lines balance {_pct(balanced)} (corpus {_pct(ref_balanced)}), "
             f"indents x4 {_pct(indent)} (corpus {_pct(ref_indent)})")  # fmt: skip
    return balanced >= ref_balanced - SHAPE_MARGIN and indent >= ref_indent - SHAPE_MARGIN, words


def judge(text: str, figures: dict, profile: CorpusProfile | None, python: bool) -> Judged:
    """The verdict on `text` from its figures (a Quality's: repeated_share, distinct_ngrams_ratio,
    char_divergence and, when `python`, the Python measures) against `profile` (see the module
    docstring)."""
    profile = profile or DEFAULT_PROFILE
    reason = _degenerate(text, figures, profile)
    if reason is not None:
        return Judged("degenerate", reason)
    reason = _foreign(figures)
    if reason is not None:
        return Judged("text", reason)
    if not python:
        return Judged("text", "varied text like the corpus's (the corpus is not Python)")
    shaped, shape = _shape(figures, profile)
    if not shaped:
        return Judged("text", f"not Python-shaped: {shape}")
    blocks, rate = figures.get("blocks") or 0, figures.get("parse_rate")
    if not blocks:
        return Judged("python-shaped", f"no def/class block; {shape}")
    parsed = f"{_pct(rate)} of {blocks} blocks parse (corpus {_pct(profile.parse_rate)})"
    if rate is not None and rate >= PARSE_SHARE:
        return Judged("parses", f"{parsed}; {shape}")
    return Judged("python-shaped", f"{parsed}; {shape}")
