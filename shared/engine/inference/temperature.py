"""The model's next-character distribution after a prompt, at several temperatures (the paper's
figure 3), as plain data for a chart.

`next_char_distribution(sampler, prompt, temperatures)` reads the prompt as a seed
(`sample.encode_seed`: cleaned, transformed as the corpus was, unknown characters dropped), runs it
through a clone of the sampler's network from zero state (stateless models: the last `seq_len`
characters, as they generate) and returns softmax(logits / T) for every T. Characters are listed
most probable first (at T = 1), optionally only the `top` ones; with `tabs` models "\\t" stands for
four spaces of indentation, as the model sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .numpy_lstm import check_temperature, softmax
from .sample import Sampler, encode_seed

__all__ = ["NextCharDistribution", "next_char_distribution"]


@dataclass(frozen=True)
class NextCharDistribution:
    characters: list[str]  # most probable first, at temperature 1
    temperatures: list[float]
    probabilities: list[list[float]]  # one row per temperature, aligned with `characters`
    prompt_chars: int  # characters of the prompt the model read

    def to_dict(self) -> dict:
        return {
            "characters": self.characters,
            "temperatures": self.temperatures,
            "probabilities": self.probabilities,
            "prompt_chars": self.prompt_chars,
        }


def next_char_distribution(
    sampler: Sampler,
    prompt: str,
    temperatures: float | Sequence[float] = (0.2, 0.5, 1.0, 1.5),
    top: int | None = None,
) -> NextCharDistribution:
    """The next character's probabilities after `prompt` at each temperature. CorpusError (a
    ValueError) when the prompt has no character of the vocabulary; ValueError for a bad
    temperature or `top` < 1."""
    temps = [check_temperature(t) for t in np.atleast_1d(np.asarray(temperatures, dtype=np.float64)).tolist()]
    if not temps:
        raise ValueError("give at least one temperature")
    if top is not None and top < 1:
        raise ValueError("top must be >= 1")
    ids = encode_seed(prompt, sampler.vocabulary, sampler.hyperparameters)
    net = sampler.net.clone()
    if net.stateful:
        net.reset(1)
        logits = net.warmup(ids)
    else:
        logits = net.window_logits(ids[-(net.seq_len or len(ids)) :])
    assert logits is not None
    row = logits[0].astype(np.float64)
    order = np.argsort(-softmax(row, 1.0), kind="stable")
    if top is not None:
        order = order[:top]
    chars = sampler.vocabulary.decode(order)
    return NextCharDistribution(
        characters=list(chars),
        temperatures=temps,
        probabilities=[softmax(row, t)[order].tolist() for t in temps],
        prompt_chars=len(ids),
    )
