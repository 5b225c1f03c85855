"""The sample verdict on calibration texts with a known answer (data/README.md), against the
built-in corpus's profile; and the repetition measures it reads."""

from pathlib import Path

import pytest

from shared.engine.data.assembly import builtin_python_corpus
from shared.engine.data.corpus import clean
from shared.engine.measures.corpus_profile import profile_corpus
from shared.engine.measures.quality import measure_quality
from shared.engine.measures.repetition import distinct_ngrams, ladder_share, repeated_share
from shared.engine.measures.sample_report import summary
from shared.engine.measures.verdict import VERDICTS

DATA = Path(__file__).parent / "data"
EXPECTED = {
    "heldout_werkzeug_range.py.txt": "parses",
    "figure7.txt": "parses",
    "shuffled_lines.txt": "python-shaped",
    "shuffled_chars.txt": "text",
    "spaces.txt": "degenerate",
    "repeated_line.txt": "degenerate",
    "loop.txt": "degenerate",
}


@pytest.fixture(scope="module")
def profile():
    return profile_corpus(clean(builtin_python_corpus(max_chars=300_000)))


def test_the_corpus_profile_is_its_own_reference(profile):
    assert profile.python and profile.parse_rate >= 0.98
    assert profile.balanced_lines > 0.9 and profile.indent_multiple_of_4 > 0.9 and profile.repeated_share < 0.02
    shares = [share for _, share in profile.ngram_ladder]
    assert shares == sorted(shares, reverse=True)  # fewer distinct windows as the text grows


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_calibration_texts_get_their_known_verdict(profile, name):
    quality = measure_quality((DATA / name).read_text(), corpus=profile)
    assert quality.verdict == EXPECTED[name], quality.verdict_reason
    assert quality.verdict in VERDICTS and quality.verdict_reason


def test_noise_cannot_pass_on_confidence_and_blank_lines(profile):
    quality = measure_quality((DATA / "spaces.txt").read_text(), corpus=profile).to_dict()
    quality["bits_per_char"] = 0.169  # a confident collapsed model
    line = summary(quality)
    assert line.startswith("degenerate (84% of the text is runs of a character")
    assert "model's confidence 0.169 bits/char" in line
    assert measure_quality("   \n\n  ", corpus=profile).verdict == "degenerate"


def test_without_a_corpus_profile_the_built_in_shares_are_the_reference():
    text = (DATA / "heldout_werkzeug_range.py.txt").read_text()
    assert measure_quality(text).verdict == "parses"
    assert measure_quality((DATA / "repeated_line.txt").read_text()).verdict == "degenerate"
    assert measure_quality("plain words, varied enough", python=False).verdict == "text"


def test_repeated_share_spares_indentation_and_counts_runs_and_repeated_lines():
    assert repeated_share("def f():\n        return 1\n") == 0.0  # 8 spaces of indentation
    assert repeated_share("x" * 8 + "yz") == pytest.approx(0.8)
    assert repeated_share("abababab--") == pytest.approx(0.8)
    assert repeated_share("a = 1\na = 1\nb\n") == pytest.approx(6 / 14)
    assert repeated_share("") is None


def test_distinct_ngrams_and_the_ladder():
    assert distinct_ngrams("short") is None
    assert distinct_ngrams("ab" * 150) == pytest.approx(2 / 293)
    ladder = ((200, 0.8), (2_000, 0.6))
    assert ladder_share(ladder, 100) == 0.8 and ladder_share(ladder, 50_000) == 0.6
    assert ladder_share(ladder, 632) == pytest.approx(0.7, abs=0.001)  # halfway in log length
    assert ladder_share((), 500) is None
