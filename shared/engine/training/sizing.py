"""Sizing advice before training: what a corpus of n characters gives with these hyperparameters,
and what to change when it gives too little to learn from (the README's example job once trained
22 batches an epoch and sampled mostly spaces). The CLI prints it; the service returns it.

Rules, each from the batching layout itself:
- fewer than MIN_BATCHES training batches per epoch: few weight updates per epoch; a smaller
  batch size (stateful: fewer parallel rows) gives more, and the largest one that reaches
  GOOD_BATCHES is suggested;
- more parameters than 4x the training characters: the model can memorise its corpus; fewer units.
"""

from __future__ import annotations

from ..config import Hyperparameters
from ..data.batching import layout

MIN_BATCHES = 100
GOOD_BATCHES = 200
PARAMETERS_PER_CHAR = 4.0


def parameters(hyperparameters: Hyperparameters, vocab_size: int) -> int:
    """Weights of the network: the LSTM layers (4 gates of input + recurrent + bias) and the Dense."""
    total, width = 0, vocab_size
    for _ in range(hyperparameters.layers):
        total += 4 * hyperparameters.units * (width + hyperparameters.units + 1)
        width = hyperparameters.units
    return total + (width + 1) * vocab_size


def batch_size_for(n_chars: int, hyperparameters: Hyperparameters) -> int | None:
    """The largest batch size under `hyperparameters.batch_size` whose layout gives GOOD_BATCHES or
    more training batches per epoch; None when none does."""
    return next(
        (size for size in range(hyperparameters.batch_size - 1, 0, -1)
         if layout(n_chars, hyperparameters.model_copy(update={"batch_size": size})).batches >= GOOD_BATCHES),
        None,
    )  # fmt: skip


def advice(n_chars: int, hyperparameters: Hyperparameters, vocab_size: int = 100) -> list[str]:
    """Warnings (with a suggestion each) for training on n_chars characters; [] when all is well."""
    shape = layout(n_chars, hyperparameters)
    if shape.problem is not None:
        return [f"the corpus is too short: {shape.problem}"]
    notes = []
    if shape.batches < MIN_BATCHES:
        better = batch_size_for(n_chars, hyperparameters)
        hint = f"; --batch-size {better} gives {GOOD_BATCHES} or more" if better else "; use a larger corpus"
        notes.append(f"only {shape.batches} training batches per epoch (under {MIN_BATCHES}): few updates per epoch"
                     f"{hint}")  # fmt: skip
    weights = parameters(hyperparameters, vocab_size)
    if weights > PARAMETERS_PER_CHAR * shape.train_targets:
        notes.append(f"{weights:,} parameters for {shape.train_targets:,} training characters: the model can "
                     "memorise its corpus; fewer --units or --layers, or more text")  # fmt: skip
    return notes
