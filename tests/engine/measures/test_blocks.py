"""Top-level blocks split as Python splits statements, on hand-made cases and on held-out
third-party sources of several styles (installed packages: not in the built-in stdlib corpus)."""

import importlib.util
from pathlib import Path

import pytest

from shared.engine.measures.blocks import parse_rate, parses, statement_starts, top_level_blocks
from shared.engine.measures.corpus_profile import looks_like_python

BLACK = '''import typing


@overload(
    strict=True,
)
def first(
    a: int,
    b: str = "x",
) -> typing.Any:
    return a


async def second(x):
    text = """
def not_a_block():
"""
    total = x + \\
1
    return text, total


class Third(
    Base,
):
    pass
'''

PACKAGES = ("pydantic", "sqlalchemy", "flask", "celery", "keras", "click", "werkzeug", "jinja2")
FILES_PER_PACKAGE = 6


def test_brackets_closed_at_column_0_strings_and_continuations_stay_in_their_block():
    blocks = top_level_blocks(BLACK)
    assert [b.split("\n")[0] for b in blocks] == ["@overload(", "async def second(x):", "class Third("]
    assert ") -> typing.Any:" in blocks[0] and "return a" in blocks[0]
    assert "def not_a_block" in blocks[1] and "1\n    return text" in blocks[1]
    assert all(parses(b) for b in blocks)


def test_text_that_does_not_tokenize_is_split_line_by_line_and_resynchronised():
    text = "def f(x):\n    return g(x\n\ndef h(\n    y,\n) -> int:\n    return y\n\nclass C:\n    s = '''\n"
    assert [b.split("\n")[0] for b in top_level_blocks(text)] == ["def f(x):", "def h(", "class C:"]
    assert parse_rate(text) == pytest.approx(1 / 3)  # f's bracket is never closed, C's string neither
    assert statement_starts("x = (\n1)\ny = 2\n") == [0, 2]


def package_sources() -> list[str]:
    """A deterministic choice of installed third-party sources (skipped when none is installed)."""
    texts = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        files = [f for f in sorted(root.rglob("*.py")) if 3_000 < f.stat().st_size < 60_000]
        texts += [f.read_text(errors="replace") for f in files[:FILES_PER_PACKAGE]]
    if len(texts) < 20:
        pytest.skip("too few third-party packages installed")
    return texts


def test_held_out_third_party_sources_parse_block_by_block():
    blocks = [block for text in package_sources() for block in top_level_blocks(text)]
    assert len(blocks) > 100
    assert sum(parses(b) is not None for b in blocks) / len(blocks) >= 0.98


def test_a_corpus_of_black_formatted_sources_looks_like_python():
    assert looks_like_python("\n\n".join(package_sources()))
