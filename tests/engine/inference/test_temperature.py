"""The next-character distribution at several temperatures (the paper's figure 3) as chart data."""

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import CorpusError, Vocabulary
from shared.engine.inference.numpy_lstm import NumpyLSTM, softmax
from shared.engine.inference.sample import Sampler
from shared.engine.inference.temperature import next_char_distribution

VOCABULARY = Vocabulary("\n (),:abcdefr")


def sampler(seed=0, units=8):
    rng = np.random.default_rng(seed)
    v = len(VOCABULARY)
    lstm = [(rng.normal(0, 1, (v, 4 * units)), rng.normal(0, 1, (units, 4 * units)), rng.normal(0, 1, 4 * units))]
    net = NumpyLSTM(lstm, (rng.normal(0, 2, (units, v)), rng.normal(0, 1, v)))
    return Sampler(net=net, vocabulary=VOCABULARY, hyperparameters=Hyperparameters(layers=1, units=units),
                   warmup_text="def", epoch=1)  # fmt: skip


def test_probabilities_are_the_tempered_softmax_after_the_prompt():
    s = sampler()
    result = next_char_distribution(s, "def f(a):\n", [0.25, 1.0, 2.0])
    net = s.net.clone()
    net.reset(1)
    logits = net.warmup(VOCABULARY.encode("def f(a):\n"))[0]
    assert result.temperatures == [0.25, 1.0, 2.0] and result.prompt_chars == 10
    assert sorted(result.characters) == sorted(VOCABULARY.chars)
    ids = VOCABULARY.encode("".join(result.characters))
    for t, row in zip(result.temperatures, result.probabilities, strict=True):
        np.testing.assert_allclose(row, softmax(logits, t)[ids], rtol=1e-6)
        assert sum(row) == pytest.approx(1.0)
    at_one = result.probabilities[1]
    assert at_one == sorted(at_one, reverse=True)  # most probable first
    # colder is peakier, hotter flatter
    assert result.probabilities[0][0] > at_one[0] > result.probabilities[2][0]
    assert s.net.rows == 1 and all(np.abs(c).sum() == 0 for _, c in s.net.state)  # template not stepped


def test_top_unknown_characters_and_bad_arguments():
    s = sampler()
    full = next_char_distribution(s, "dZeQf(", 1.0)  # characters outside the vocabulary are dropped
    short = next_char_distribution(s, "def(", 1.0, top=3)
    assert short.characters == full.characters[:3] and short.probabilities[0] == full.probabilities[0][:3]
    assert short.to_dict()["characters"] == short.characters
    with pytest.raises(CorpusError):
        next_char_distribution(s, "XYZ")
    with pytest.raises(ValueError):
        next_char_distribution(s, "def", [0.0])
    with pytest.raises(ValueError):
        next_char_distribution(s, "def", 1.0, top=0)
