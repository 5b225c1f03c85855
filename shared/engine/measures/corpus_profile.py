"""What a corpus is, as generated texts are compared with it: `looks_like_python` (whether the
Python measures apply) and `profile_corpus`, the corpus's own figures (`verdict.CorpusProfile`),
computed once per corpus on its first PROFILE_HEAD characters (character counts on all of it)."""

from __future__ import annotations

from collections.abc import Mapping

from .blocks import parse_rate, top_level_blocks
from .quality import balanced_lines, char_counts, indent_multiple_of_4
from .repetition import ngram_ladder, repeated_share
from .verdict import CorpusProfile

__all__ = ["PROFILE_HEAD", "PYTHON_HEAD", "looks_like_python", "profile_corpus"]

PYTHON_HEAD = 200_000  # characters of a corpus looked at by looks_like_python
PYTHON_MIN_BLOCKS = 3
PYTHON_MIN_PARSE = 0.5
PROFILE_HEAD = 200_000  # characters of a corpus its profile is measured on


def _head(corpus: str, size: int) -> str:
    """The first `size` characters, cut at a line end (a block cut in the middle would not parse)."""
    if len(corpus) <= size:
        return corpus
    head = corpus[:size]
    cut = head.rfind("\n")
    return head[: cut + 1] if cut > 0 else head


def looks_like_python(corpus: str) -> bool:
    """Whether a corpus is Python-like: its first PYTHON_HEAD characters hold at least
    PYTHON_MIN_BLOCKS top-level `def`/`class` blocks and at least half of them parse."""
    head = _head(corpus, PYTHON_HEAD)
    if len(top_level_blocks(head)) < PYTHON_MIN_BLOCKS:
        return False
    rate = parse_rate(head)
    return rate is not None and rate >= PYTHON_MIN_PARSE


def profile_corpus(corpus: str, counts: Mapping[str, int] | None = None) -> CorpusProfile:
    """The corpus's figures (`counts`: its character counts when the caller has them)."""
    head = _head(corpus, PROFILE_HEAD)
    python = looks_like_python(corpus)
    return CorpusProfile(
        counts=dict(counts if counts is not None else char_counts(corpus)),
        python=python,
        repeated_share=repeated_share(head),
        ngram_ladder=ngram_ladder(head),
        balanced_lines=balanced_lines(head) if python else None,
        indent_multiple_of_4=indent_multiple_of_4(head) if python else None,
        parse_rate=parse_rate(head) if python else None,
    )
