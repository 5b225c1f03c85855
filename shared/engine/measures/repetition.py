"""How much of a text repeats itself: what a collapsed model writes (runs of spaces, one line over
and over, a short loop) and a trained one does not.

- `repeated_share`: share of the characters in repeated runs: one character RUN_MIN or more times
  in a row (the indentation in front of a line's text excepted: deep code is indented by many
  spaces), a unit of 2 to 8 characters (not all whitespace) 4 or more times in a row, and every
  non-blank line equal to the line before it.
- `distinct_ngrams`: distinct NGRAM-character windows over all the windows of a text: a loop
  repeats its windows (low), shuffled characters hardly ever do (high). It falls as a text grows,
  so a text is compared with a corpus window of the same length (`ngram_ladder`, `ladder_share`).
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["LADDER", "NGRAM", "RUN_MIN", "distinct_ngrams", "ladder_share", "ngram_ladder", "repeated_share"]

RUN_MIN = 8
NGRAM = 8
LADDER = (200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)  # window lengths a corpus is measured at
LADDER_WINDOWS = 16  # windows of each length spread over the corpus: their median (code varies a lot)

_CHAR_RUN = re.compile(rf"(.)\1{{{RUN_MIN - 1},}}", re.S)
_UNIT_RUN = re.compile(r"(.{2,8}?)\1{3,}", re.S)


def repeated_share(text: str) -> float | None:
    """Share of the text's characters in repeated runs (see the module docstring; None: empty)."""
    if not text:
        return None
    mask = np.zeros(len(text), dtype=bool)
    for match in _CHAR_RUN.finditer(text):
        start, end = match.span()
        indentation = match.group(1) in " \t" and (start == 0 or text[start - 1] == "\n")
        if indentation and end < len(text) and not text[end].isspace():
            continue
        mask[start:end] = True
    for match in _UNIT_RUN.finditer(text):
        if match.group(1).strip():
            mask[match.start() : match.end()] = True
    offset, previous = 0, None
    for line in text.split("\n"):
        if line.strip() and line == previous:
            mask[offset : offset + len(line) + 1] = True
        previous, offset = line, offset + len(line) + 1
    return float(mask.sum()) / len(text)


def distinct_ngrams(text: str) -> float | None:
    """Distinct NGRAM-character windows over all windows (None: shorter than LADDER[0])."""
    windows = len(text) - NGRAM + 1
    if len(text) < LADDER[0]:
        return None
    return len({text[i : i + NGRAM] for i in range(windows)}) / windows


def ngram_ladder(corpus: str) -> tuple[tuple[int, float], ...]:
    """`distinct_ngrams` of the corpus at each LADDER length that it holds: the median of up to
    LADDER_WINDOWS windows spread over it (the median: a window of tables or of prose is far off)."""
    rungs = []
    for length in LADDER:
        if len(corpus) < length:
            break
        count = min(LADDER_WINDOWS, len(corpus) // length)
        step = (len(corpus) - length) // max(1, count - 1) if count > 1 else 0
        shares = [distinct_ngrams(corpus[k * step : k * step + length]) for k in range(count)]
        rungs.append((length, float(np.median([s for s in shares if s is not None]))))
    return tuple(rungs)


def ladder_share(ladder: tuple[tuple[int, float], ...], length: int) -> float | None:
    """The corpus's `distinct_ngrams` at `length`, interpolated in log length between the rungs
    (the nearest rung outside them; None: no rung)."""
    if not ladder:
        return None
    if length <= ladder[0][0]:
        return ladder[0][1]
    for (short, low), (long, high) in zip(ladder, ladder[1:], strict=False):
        if length <= long:
            weight = (math.log(length) - math.log(short)) / (math.log(long) - math.log(short))
            return low + weight * (high - low)
    return ladder[-1][1]
