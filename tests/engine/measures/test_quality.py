"""Sample quality against hand-made texts whose figures are known."""

import math

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import Vocabulary
from shared.engine.inference.numpy_lstm import NumpyLSTM
from shared.engine.inference.sample import Sampler
from shared.engine.measures.quality import (
    balanced_lines,
    bits_per_char,
    char_counts,
    char_divergence,
    identifiers_defined,
    indent_multiple_of_4,
    measure_quality,
    parse_rate,
    top_level_blocks,
)

GOOD = '''import os


@decorator
@other(1)
def first(a, b=2):
    """Doc."""
    x = [a, b]
    # a comment at column 0 inside the body is still the body
    return len(x) + os.sep.count("(")


class Thing(Base):
    def method(self):
        for i in range(3):
            yield i
'''

BAD = """def broken(:
    return 1

class Open(
    pass

def nothing(x)
    x
"""


def test_blocks_keep_their_decorators_and_body():
    blocks = top_level_blocks(GOOD)
    assert len(blocks) == 2
    assert blocks[0].startswith("@decorator\n@other(1)\ndef first") and "return len(x)" in blocks[0]
    assert blocks[1].startswith("class Thing") and blocks[1].rstrip().endswith("yield i")


def test_parse_rate_full_none_and_mixed():
    assert parse_rate(GOOD) == 1.0
    assert parse_rate(BAD) == 0.0
    assert parse_rate(GOOD + BAD) == pytest.approx(2 / 5)
    assert parse_rate("x = 1\nprint(x)\n") is None  # no def/class block to count


def test_balanced_lines():
    text = "f(a[1], {b})\ng(\n)\n(]\n\nx = '(' + \"[\"  # ({\ny = '''(''' + z\n"
    # f(...) yes; "g(" no; ")" no; "(]" no; blank ignored; brackets in strings/comments ignored: yes
    assert balanced_lines(text) == pytest.approx(3 / 6)
    assert balanced_lines("\n  \n") is None


def test_indentation_multiple_of_4():
    text = "a\n    b\n  c\n\tc2\n        d\n   \ne\n      f\n"
    # indented non-blank: 4 yes, 2 no, tab (4) yes, 8 yes, 6 no
    assert indent_multiple_of_4(text) == pytest.approx(3 / 5)
    assert indent_multiple_of_4("a\nb\n") is None


def test_identifiers_defined_in_the_block():
    text = (
        "def f(a, *rest, key=None, **kw):\n"
        "    import json as j\n"
        "    from os import path\n"
        "    total = a\n"
        "    for item in rest:\n"
        "        total += item\n"
        "    try:\n"
        "        pass\n"
        "    except ValueError as err:\n"
        "        print(err)\n"
        "    return [q for q in kw if q] + [total, j, path, key, len, unknown_one, unknown_two]\n"
    )
    # names read: a, rest, total, item, ValueError, print, err, q, kw, j, path, key, len (known),
    # unknown_one, unknown_two (not): 13 of 15
    assert identifiers_defined(text) == pytest.approx(13 / 15)
    assert identifiers_defined(BAD) is None  # nothing parses


def test_char_divergence_is_jensen_shannon_in_bits():
    assert char_divergence(char_counts("abab"), char_counts("ba")) == 0.0
    assert char_divergence(char_counts("aaaa"), char_counts("bb")) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4)
    expected = 0.5 * math.log2(1 / 0.75) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert char_divergence({"a": 3}, {"a": 1, "b": 1}) == pytest.approx(expected)


def tiny_net(vocab_size, units=8, seed=0):
    rng = np.random.default_rng(seed)
    lstm = [
        (
            rng.normal(0, 0.5, (vocab_size, 4 * units)),
            rng.normal(0, 0.5, (units, 4 * units)),
            rng.normal(0, 0.5, 4 * units),
        )
    ]
    return NumpyLSTM(lstm, (rng.normal(0, 0.5, (units, vocab_size)), rng.normal(0, 0.5, vocab_size)))


def test_bits_per_char_is_the_models_cross_entropy_in_bits():
    vocabulary = Vocabulary("ab\n")
    net = tiny_net(len(vocabulary))
    ids = vocabulary.encode("abba\nab")
    assert bits_per_char(net, ids) == pytest.approx(net.clone().cross_entropy(ids) / math.log(2))
    # a uniform model: log2(V) bits for every character
    uniform = NumpyLSTM([(np.zeros((3, 32)), np.zeros((8, 32)), np.zeros(32))], (np.zeros((8, 3)), np.zeros(3)))
    assert bits_per_char(uniform, ids) == pytest.approx(math.log2(3))


def test_measure_quality_together():
    vocabulary = Vocabulary("\n ()=:abcdefilnorstux")
    sampler = Sampler(
        net=tiny_net(len(vocabulary)), vocabulary=vocabulary, hyperparameters=Hyperparameters(layers=1, units=8),
        warmup_text="def", epoch=1,
    )  # fmt: skip
    text = "def f(x):\n    return x\n"
    quality = measure_quality(text, sampler=sampler, corpus_counts=char_counts(text))
    data = quality.to_dict()
    assert data["chars"] == len(text) and data["lines"] == 2 and data["blocks"] == 1
    assert (data["parse_rate"], data["balanced_lines"], data["indent_multiple_of_4"]) == (1.0, 1.0, 1.0)
    assert data["identifiers_defined"] == 1.0 and data["char_divergence"] == 0.0
    ids = vocabulary.encode(text)
    assert data["bits_per_char"] == pytest.approx(bits_per_char(sampler.net, ids))
    plain = measure_quality("just words", python=False)
    assert plain.parse_rate is None and plain.bits_per_char is None and plain.lines == 1
