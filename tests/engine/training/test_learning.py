"""The training verdict: held-out bits/char against the character frequencies alone."""

import math

import pytest

from shared.engine.training.learning import learning_verdict, unigram_entropy


def test_unigram_entropy_in_bits():
    assert unigram_entropy({"a": 1, "b": 1}) == pytest.approx(1.0)
    assert unigram_entropy({"a": 5}) == 0.0
    with pytest.raises(ValueError):
        unigram_entropy({})


def test_a_model_near_the_frequencies_has_not_learned_and_is_told_what_helps():
    verdict = learning_verdict(4.1 * math.log(2), 4.3)
    assert verdict.state == "not learned" and verdict.bits_per_char == pytest.approx(4.1)
    assert verdict.line == "has not learned yet: 4.10 bits/char against 4.30 for the character frequencies alone; " \
        "train longer (more epochs)"  # fmt: skip
    advised = learning_verdict(4.4 * math.log(2), 4.3, ["only 22 training batches per epoch: --batch-size 3"])
    assert advised.state == "not learned" and advised.line.endswith(
        "; only 22 training batches per epoch: --batch-size 3"
    )


def test_learning_and_learned():
    assert learning_verdict(3.0 * math.log(2), 4.5).state == "learning"
    learned = learning_verdict(1.2 * math.log(2), 4.5)
    assert learned.state == "learned" and learned.line == (
        "has learned: 1.20 bits/char against 4.50 for the character frequencies alone"
    )
    memorising = learning_verdict(2.0 * math.log(2), 4.5, train_loss=1.0 * math.log(2))
    assert memorising.state == "learned" and "memorises" in memorising.line
    assert learned.to_dict()["state"] == "learned"
