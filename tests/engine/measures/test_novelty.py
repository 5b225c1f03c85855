"""Novelty against the corpus: copied, novel and mixed samples with known answers, and the
matching statistics against a brute-force reference."""

import random

import pytest

from shared.engine.measures.novelty import CorpusIndex, numpy_suffix_array

CORPUS = "".join(
    f"def function_{i}(argument_{i}, other={i * 7}):\n    return argument_{i} * other + {i * i}\n\n" for i in range(300)
)


@pytest.fixture(scope="module")
def index():
    return CorpusIndex.build(CORPUS)


def brute_force(corpus, sample):
    """Matching statistics by `in`: the longest prefix of sample[i:] in the corpus (a prefix of a
    substring is one, so the length is found by bisection)."""
    out = []
    for i in range(len(sample)):
        lo, hi = 0, len(sample) - i
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if sample[i : i + mid] in corpus else (lo, mid - 1)
        out.append(lo)
    return out


def test_saved_and_loaded_index_answers_the_same(index, tmp_path):
    index.save(tmp_path / "index.npz")
    loaded = CorpusIndex.load(tmp_path / "index.npz")
    sample = "XX" + CORPUS[100:400] + "YY"
    assert loaded.size == index.size == len(CORPUS)
    assert loaded.novelty(sample) == index.novelty(sample) and loaded.novelty(sample).spans == [(2, 302)]


def test_a_copied_sample(index):
    sample = CORPUS[1234:9876]
    novelty = index.novelty(sample)
    assert novelty.copied_lines == 1.0 and novelty.lines_counted > 100
    assert novelty.longest_copy == len(sample) and novelty.longest_copy_start == 0
    assert novelty.spans == [(0, len(sample))] and novelty.copied_chars == len(sample)


def test_a_novel_sample(index):
    rng = random.Random(0)
    lines = ["".join(rng.choice("QWXZJKVY%$") for _ in range(30)) for _ in range(40)]
    novelty = index.novelty("\n".join(lines))
    assert (novelty.lines_counted, novelty.lines_copied, novelty.copied_lines) == (40, 0, 0.0)
    assert novelty.longest_copy == 1  # only the newline is in the corpus
    assert novelty.spans == [] and novelty.copied_chars == 0


def test_a_mixed_sample_marks_exactly_the_copied_spans(index):
    novel_a, novel_b = "@@ QQQ novel prefix text ZZ @@\n", "\n~~ QXJ totally new line here VV ~~\n"
    copied = CORPUS[5000:5400]
    sample = novel_a + copied + novel_b + "    return argument_12 * other"
    novelty = index.novelty(sample, min_span=20)
    start = len(novel_a)
    end = start + len(copied)
    # the copy may extend by a character or two where the novel text happens to continue it
    assert novelty.spans[0][0] <= start and novelty.spans[0][1] >= end
    assert novelty.spans[0][0] >= start - 1 and novelty.spans[0][1] <= end + 1
    tail = len(sample) - len("    return argument_12 * other")
    assert novelty.spans[-1] == (tail - 1, len(sample))  # "\n    return ..." is in the corpus
    assert len(novelty.spans) == 2
    assert novelty.longest_copy >= len(copied) and novelty.longest_copy <= len(copied) + 2
    # the novel lines (30+ characters) are not copied; the corpus lines in the copy are
    lines = [line.strip() for line in sample.split("\n") if len(line.strip()) >= 20]
    assert novelty.lines_counted == len(lines)
    assert novelty.lines_copied == sum(line in CORPUS for line in lines) == len(lines) - 2
    data = novelty.to_dict()
    assert data["spans"][0] == list(novelty.spans[0]) and data["min_span"] == 20


def test_min_span_filters_short_copies(index):
    sample = "XX" + "function_1" + "XX"  # a 10-character copy: "X" is not in the corpus
    assert index.novelty(sample, min_span=10).spans == [(2, 12)]
    assert index.novelty(sample, min_span=11).spans == []
    with pytest.raises(ValueError):
        index.novelty(sample, min_span=0)


def test_matching_lengths_agree_with_brute_force_long_copies_and_unicode_included():
    rng = random.Random(3)
    for _ in range(20):
        alphabet = rng.choice(["ab", "ab\u00e9", "a\u20ac\U0001f600"])
        base = "".join(rng.choice(alphabet) for _ in range(rng.randint(60, 300)))
        corpus = base + base[::-1] + base[5:150]
        pieces: list[str] = []
        while sum(map(len, pieces)) < 300:
            if rng.random() < 0.5:
                a = rng.randrange(len(corpus))
                pieces.append(corpus[a : a + rng.randint(1, 200)])  # copies longer than the 64-byte window
            else:
                pieces.append("".join(rng.choice(alphabet + "z") for _ in range(rng.randint(1, 15))))
        sample = "".join(pieces)
        assert CorpusIndex.build(corpus).matching_lengths(sample).tolist() == brute_force(corpus, sample)


def test_empty_inputs():
    with pytest.raises(ValueError):
        CorpusIndex.build("")
    novelty = CorpusIndex.build("abc").novelty("")
    assert novelty.copied_lines is None and novelty.longest_copy == 0 and novelty.spans == []


def test_a_run_longer_than_any_in_the_corpus():
    # every position matches min(100, what is left): a step per position in the exact resolution
    index = CorpusIndex.build("x = 1\n# " + "-" * 100 + "\ny = 2\n")
    sample = "-" * 3000
    assert index.matching_lengths(sample).tolist() == [min(100, 3000 - i) for i in range(3000)]
    novelty = index.novelty(sample)
    assert novelty.longest_copy == 100 and novelty.spans == [(0, 3000)] and novelty.copied_lines == 0.0


def test_whitespace_does_not_make_a_copy():
    index = CorpusIndex.build("a" + " " * 40 + "b\n    return value_of_it\n")
    sample = "Z" + " " * 30 + "Z" + "    return value_of_it"
    novelty = index.novelty(sample, min_span=10)
    # the 30 spaces are a copy but hold no other character; "    return value_of_it" holds 17
    assert novelty.spans == [(32, len(sample))] and novelty.copied_chars == len(sample) - 32
    assert novelty.longest_copy == 30  # the longest copy itself counts whatever it holds


def test_the_numpy_fallback_builds_the_same_suffix_array():
    rng = random.Random(5)
    for _ in range(50):
        data = "".join(rng.choice("ab\u00e9\n") for _ in range(rng.randint(1, 120))).encode()
        assert numpy_suffix_array(data).tolist() == sorted(range(len(data)), key=lambda i: data[i:])
    data = CORPUS.encode()
    fallback = CorpusIndex(data, numpy_suffix_array(data))
    sample = "XX" + CORPUS[700:1500] + "\n@@ not there at all @@\n" + CORPUS[3000:3100]
    assert fallback.novelty(sample) == CorpusIndex.build(CORPUS).novelty(sample)
