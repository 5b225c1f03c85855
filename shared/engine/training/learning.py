"""Whether a model has learned: its held-out bits/char against what the corpus's character
frequencies alone give (the unigram entropy: a model that predicts every character by its
frequency, ignoring the text before it), with what would help.

- `not learned`: held-out bits/char within NOT_LEARNED_MARGIN of the unigram entropy (or above it);
- `learning`: below that, but above LEARNED_SHARE of the unigram entropy;
- `learned`: LEARNED_SHARE of the unigram entropy or less (Python: about 4.5 bits/char for the
  frequencies alone, the paper's models reach about 1).
What would help: the sizing advice when there is any, else more epochs (and, while learning, a
larger model); a training loss far below the held-out one (OVERFIT_GAP) says the model memorises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from ..config import Hyperparameters
from ..units import LN2
from .sizing import advice

__all__ = ["LearningVerdict", "learning_verdict", "run_verdict", "unigram_entropy"]

NOT_LEARNED_MARGIN = 0.25  # bits/char
LEARNED_SHARE = 0.5
OVERFIT_GAP = 0.3  # bits/char between held-out and training loss


def unigram_entropy(counts: Mapping[str, int]) -> float:
    """Entropy in bits/char of the character frequencies `counts`."""
    total = sum(counts.values())
    if total <= 0:
        raise ValueError("no characters to count")
    return -sum(n / total * math.log2(n / total) for n in counts.values() if n > 0)


@dataclass(frozen=True)
class LearningVerdict:
    state: str  # "not learned", "learning" or "learned"
    bits_per_char: float  # held-out
    unigram_bits: float
    line: str  # the verdict in one line, with what would help

    def to_dict(self) -> dict:
        return asdict(self)


def learning_verdict(
    val_loss: float,
    unigram_bits: float,
    advice: Sequence[str] = (),
    train_loss: float | None = None,
) -> LearningVerdict:
    """The verdict for a held-out loss `val_loss` (nats/char, as Keras reports it) against the
    corpus's `unigram_bits` (`unigram_entropy`), given the sizing advice (`training.sizing.advice`)
    and the training loss when known."""
    bits = val_loss / LN2
    figures = f"{bits:.2f} bits/char against {unigram_bits:.2f} for the character frequencies alone"
    helps = list(advice)
    if train_loss is not None and bits - train_loss / LN2 > OVERFIT_GAP:
        helps.append(f"training loss {train_loss / LN2:.2f} bits/char: the model memorises its corpus; "
                     "more text, or fewer units")  # fmt: skip
    if bits > unigram_bits - NOT_LEARNED_MARGIN:
        state, head = "not learned", f"has not learned yet: {figures}"
        helps = helps or ["train longer (more epochs)"]
    elif bits > LEARNED_SHARE * unigram_bits:
        state, head = "learning", f"is learning: {figures}"
        helps = helps or ["train longer, or a larger model (more units or layers)"]
    else:
        state, head = "learned", f"has learned: {figures}"
    line = f"{head}; {'; '.join(helps)}" if helps else head
    return LearningVerdict(state, bits, unigram_bits, line)


def run_verdict(
    epochs: Sequence[tuple[float, float | None]],
    unigram_bits: float | None,
    corpus_chars: int,
    hyperparameters: Hyperparameters,
    vocab_size: int,
) -> LearningVerdict | None:
    """The verdict of a run from its epochs' (training loss, held-out loss) in nats/char, at its best
    held-out epoch, with the sizing advice for its corpus; None before an epoch has a held-out loss
    (or without the corpus's unigram entropy)."""
    scored = [(val, loss) for loss, val in epochs if val is not None]
    if not scored or unigram_bits is None:
        return None
    val, loss = min(scored)
    notes = advice(corpus_chars, hyperparameters, vocab_size)
    return learning_verdict(val, unigram_bits, notes, train_loss=loss)
