"""The per-sample figures' helpers: Python-like corpora, capped spans, the CLI's summary line."""

from shared.engine.measures.novelty import CorpusIndex
from shared.engine.measures.sample_report import cap_spans, counts_of_bytes, looks_like_python, measure_text, summary

PYTHON = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(10))


def test_looks_like_python():
    assert looks_like_python(PYTHON)
    assert not looks_like_python("The quick brown fox jumps over the lazy dog.\n" * 100)
    assert not looks_like_python("def (:\n  )\n" * 10)  # blocks, but none parses


def test_cap_spans_keeps_the_longest_in_text_order():
    novelty = {"spans": [[0, 30], [40, 100], [200, 221], [300, 400]], "copied_chars": 212}
    capped = cap_spans(novelty, max_spans=2)
    assert capped["spans"] == [[40, 100], [300, 400]] and capped["spans_total"] == 4
    assert capped["copied_chars"] == 212


def test_measure_text_and_summary():
    index = CorpusIndex.build(PYTHON)
    quality, novelty = measure_text(
        PYTHON[:120], python=True, corpus_counts=counts_of_bytes(PYTHON.encode()), index=index
    )
    assert quality["parse_rate"] == 1.0 and quality["char_divergence"] < 0.1
    assert novelty is not None and novelty["longest_copy"] == 120 and novelty["spans"] == [[0, 120]]
    line = summary(quality, novelty)
    assert "100% of 4 blocks parse" in line and "longest copy 120 chars" in line and "bits/char" not in line
    assert summary({}) == "no figures"
