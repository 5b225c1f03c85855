"""Sample quality: how much of a generated text is well-formed Python, and how the model and the
corpus see it.

Python measures (`python_measures`), each a share in [0, 1] or None when nothing is there to count:

- `parse_rate`: top-level blocks that `ast.parse` accepts. A block is a top-level `def`,
  `async def` or `class` statement with its decorators, up to the next top-level statement, split
  as Python splits statements (`blocks.top_level_blocks`).
- `balanced_lines`: non-blank lines whose brackets ()[]{} balance within the line, properly nested
  ("(]" does not); brackets inside a string literal opened on the line or after a `#` comment do
  not count.
- `indent_multiple_of_4`: indented non-blank lines whose indentation (tabs as 4 columns) is a
  multiple of 4.
- `identifiers_defined`: over the blocks that parse, the (block, name) pairs read as a plain name
  (`ast.Name` loads) whose name the block defines or imports (function and class names, arguments,
  assignment, loop, `with`, `except`, comprehension, walrus and `match` targets, `import`,
  `global`/`nonlocal`) or that is a builtin.

For every text: `bits_per_char` of the text under a model (`NumpyLSTM.cross_entropy` on the text
read as the model reads a seed, state carried from zero: the model's confidence, not the text's
quality), `char_divergence`, the Jensen-Shannon divergence in bits (0: same character
distribution, 1: disjoint) between the text's and the corpus's character frequencies,
`repeated_share` and `distinct_ngrams_ratio` (`repetition`, the latter against the corpus's
profile), and one `verdict` with its `verdict_reason` (`verdict.judge`).

`measure_quality` computes everything the caller has the inputs for, as one `Quality`.
"""

from __future__ import annotations

import ast
import builtins
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from ..inference.numpy_lstm import NumpyLSTM
from ..inference.sample import Sampler, encode_seed
from ..units import LN2
from .blocks import line_brackets, parse_rate, parses, top_level_blocks
from .repetition import repeated_share
from .verdict import CorpusProfile, judge, ngrams_ratio

__all__ = [
    "PythonMeasures",
    "Quality",
    "balanced_lines",
    "bits_per_char",
    "char_counts",
    "char_divergence",
    "identifiers_defined",
    "indent_multiple_of_4",
    "measure_quality",
    "parse_rate",
    "parses",
    "python_measures",
    "top_level_blocks",
]

_BUILTINS = frozenset(dir(builtins))
_OPEN = "([{"
_PAIR = {")": "(", "]": "[", "}": "{"}


def _share(hits: int, total: int) -> float | None:
    return hits / total if total else None


# --- lines --------------------------------------------------------------------------------------


def _line_balances(line: str) -> bool:
    stack: list[str] = []
    for bracket in line_brackets(line)[0]:
        if bracket in _OPEN:
            stack.append(bracket)
        elif not stack or stack.pop() != _PAIR[bracket]:
            return False
    return not stack


def balanced_lines(text: str) -> float | None:
    """Share of non-blank lines whose brackets balance (None: no such line)."""
    lines = [line for line in text.split("\n") if line.strip()]
    return _share(sum(_line_balances(line) for line in lines), len(lines))


def indent_multiple_of_4(text: str) -> float | None:
    """Share of indented non-blank lines indented by a multiple of 4 columns (None: none)."""
    widths = [
        len(line) - len(line.lstrip())
        for line in (raw.expandtabs(4) for raw in text.split("\n"))
        if line.strip() and line[0] == " "
    ]
    return _share(sum(w % 4 == 0 for w in widths), len(widths))


# --- identifiers --------------------------------------------------------------------------------


def _defined_and_used(tree: ast.AST) -> tuple[set[str], set[str]]:
    defined: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.alias):
            defined.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            defined.update(node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            defined.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            defined.add(node.rest)
    return defined, used


def identifiers_defined(text: str) -> float | None:
    """Share of the names read in the parsing top-level blocks that the same block defines or
    imports, or that are builtins; each name counted once per block (None: no name read)."""
    hits = total = 0
    for block in top_level_blocks(text):
        tree = parses(block)
        if tree is None:
            continue
        defined, used = _defined_and_used(tree)
        total += len(used)
        hits += sum(name in defined or name in _BUILTINS for name in used)
    return _share(hits, total)


@dataclass(frozen=True)
class PythonMeasures:
    blocks: int
    parse_rate: float | None
    balanced_lines: float | None
    indent_multiple_of_4: float | None
    identifiers_defined: float | None


def python_measures(text: str) -> PythonMeasures:
    """The four Python measures of a text (see the module docstring)."""
    return PythonMeasures(
        blocks=len(top_level_blocks(text)),
        parse_rate=parse_rate(text),
        balanced_lines=balanced_lines(text),
        indent_multiple_of_4=indent_multiple_of_4(text),
        identifiers_defined=identifiers_defined(text),
    )


# --- model and corpus ---------------------------------------------------------------------------


def bits_per_char(net: NumpyLSTM, ids) -> float:
    """Mean bits per character of predicting ids[1:] with `net`'s weights, state carried from zero
    (stateless models: each character from its training window). Works on a clone: `net` is not
    stepped."""
    work = net.clone()
    nats = work.cross_entropy(ids) if work.stateful else work.cross_entropy(ids, window=work.seq_len)
    return nats / LN2


def char_counts(text: str) -> Counter[str]:
    """Character frequencies of a text (what `char_divergence` compares)."""
    return Counter(text)


def char_divergence(text_counts: Mapping[str, int], corpus_counts: Mapping[str, int]) -> float:
    """Jensen-Shannon divergence, in bits (0 to 1), between two character distributions given as
    counts."""
    chars = sorted(set(text_counts) | set(corpus_counts))
    p = np.array([text_counts.get(c, 0) for c in chars], dtype=np.float64)
    q = np.array([corpus_counts.get(c, 0) for c in chars], dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("both distributions need at least one character")
    p /= p.sum()
    q /= q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return min(1.0, max(0.0, 0.5 * kl(p) + 0.5 * kl(q)))


# --- everything together ------------------------------------------------------------------------


@dataclass(frozen=True)
class Quality:
    """The quality figures of one text; a figure is None when it does not apply or its input was
    not given (Python measures of a non-Python text, bits/char without a model, ...)."""

    chars: int
    lines: int
    blocks: int | None = None
    parse_rate: float | None = None
    balanced_lines: float | None = None
    indent_multiple_of_4: float | None = None
    identifiers_defined: float | None = None
    bits_per_char: float | None = None
    char_divergence: float | None = None  # Jensen-Shannon, bits
    repeated_share: float | None = None
    distinct_ngrams_ratio: float | None = None  # the text's distinct 8-grams over the corpus's
    verdict: str | None = None  # one of verdict.VERDICTS
    verdict_reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def measure_quality(
    text: str,
    *,
    python: bool = True,
    sampler: Sampler | None = None,
    corpus_counts: Mapping[str, int] | None = None,
    corpus: CorpusProfile | None = None,
) -> Quality:
    """The quality of a text: the Python measures when `python`, bits/char under `sampler`'s model
    (the text read as a seed: cleaned, transformed, unknown characters dropped; None when fewer
    than 2 characters are left), the divergence from `corpus_counts` (or `corpus`'s counts) when
    given, the repetition measures and the verdict against the `corpus` profile (its defaults
    without one)."""
    if corpus_counts is None and corpus is not None and corpus.counts:
        corpus_counts = corpus.counts
    figures: dict = {"chars": len(text), "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0)}
    if python:
        figures.update(asdict(python_measures(text)))
    if sampler is not None:
        try:
            ids = encode_seed(text, sampler.vocabulary, sampler.hyperparameters)
        except ValueError:
            ids = None
        if ids is not None and len(ids) >= 2 and (sampler.net.stateful or len(ids) > (sampler.net.seq_len or 0)):
            figures["bits_per_char"] = bits_per_char(sampler.net, ids)
    if corpus_counts is not None and text:
        figures["char_divergence"] = char_divergence(char_counts(text), corpus_counts)
    figures["repeated_share"] = repeated_share(text)
    figures["distinct_ngrams_ratio"] = ngrams_ratio(text, corpus) if corpus is not None else None
    judged = judge(text, figures, corpus, python)
    figures.update(verdict=judged.verdict, verdict_reason=judged.reason)
    return Quality(**figures)
