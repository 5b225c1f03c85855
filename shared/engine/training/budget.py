"""The budgeted recipe: what to train in `budget_seconds` on this machine, and why.

The paper's defaults stay the defaults: they are what the paper ran, for 150 epochs on a GPU. A
user with a time budget gets the recipe instead (`charlstm train CORPUS --budget 15m`, or
`budget_seconds` on a job). It chooses every field of RECIPE left at the paper's default (a field
given another value is kept), from:

- this machine's speed: a few timed batches of each candidate network (`measure_speed`);
- the corpus size: epochs are the whole passes the budget can pay for (validation included), the
  cosine schedule spans exactly those batches, and a corpus larger than one pass is cut to the
  prefix the budget can see once;
- the budget: the largest network in SHAPES whose characters seen reach CHARS_PER_WEIGHT per
  weight (the smallest one otherwise).

Every constant here was measured (docs/recipe.md, re-run by `python -m benchmarks.recipe`): Adam with
a cosine schedule beats RMSprop and a constant rate, sequences of 50 beat 100, no dropout beats
dropout while the run sees its corpus a few times, and so on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Hyperparameters
from ..data.batching import layout
from .sizing import MIN_BATCHES, batch_size_for, parameters

# the recipe's choices; the paper's default is kept for the fields not listed
RECIPE: dict[str, Any] = {
    "seq_len": 50,
    "batch_size": 64,
    "optimizer": "adam",
    "learning_rate": 0.003,
    "schedule": "cosine",
    "dropout": 0.0,
    "clipnorm": 5.0,
    "patience": 0,  # the budget ends the run; the best epoch is kept all the same
}
# how the recipe's models are sampled: the setting measured best (blocks parsing, few copied lines)
SAMPLING = {"temperature": 0.75, "top_p": None}
WARMUP_SHARE = 0.03  # of the planned batches: the cosine schedule's linear warm-up
SHAPES = ((2, 128), (2, 256), (2, 384), (2, 512), (3, 512))  # (layers, units), smallest first
CHARS_PER_WEIGHT = 16.0  # characters seen per weight of the best network measured at 15 minutes
EVAL_SPEEDUP = 2.5  # a validation pass predicts this many times faster than training
MARGIN = 0.05  # of the budget, left for checkpoints and the unexpected
PROBE_BATCHES = 5
PROBE_ROUNDS = 3  # the fastest round counts: this machine's training speed has been seen to halve for a while

Speed = Callable[[Hyperparameters, int], float]  # (hyperparameters, vocabulary size) -> characters per second


@dataclass(frozen=True)
class BudgetPlan:
    hyperparameters: Hyperparameters  # the run's, with every choice made
    train_chars: int  # characters of the corpus trained on (all, or the prefix the budget sees once)
    chars_per_second: float  # the chosen network's measured training speed
    seconds_planned: float  # the planned epochs' estimated time
    reasons: tuple[str, ...]  # what was chosen and why, one line each
    replan: bool = True  # the recipe chose the epochs: re-plan them after each epoch (epochs_that_fit)


def chosen_fields(hp: Hyperparameters) -> frozenset[str]:
    """The fields the recipe chooses: those of RECIPE, layers, units, epochs and warmup_steps left at
    the paper's default."""
    defaults = {name: field.default for name, field in Hyperparameters.model_fields.items()}
    defaults["seq_len"] = Hyperparameters().seq_len
    names = {*RECIPE, "layers", "units", "epochs", "warmup_steps"}
    return frozenset(name for name in names if getattr(hp, name) == defaults[name])


def measure_speed(hp: Hyperparameters, vocab_size: int) -> float:
    """Training characters per second of `hp`'s network on this machine: the fastest of
    PROBE_ROUNDS rounds of PROBE_BATCHES timed batches of random ids, after one untimed batch (the
    graph's compilation). A slow spell during the probe would otherwise choose too small a network;
    the epochs are re-planned from the real epoch times all the same (epochs_that_fit)."""
    import keras

    from .model import build_model

    model = build_model(hp, vocab_size)
    rng = np.random.default_rng(0)
    shape = (hp.batch_size * (PROBE_BATCHES + 1), hp.seq_len or 1)
    x, y = rng.integers(0, vocab_size, shape, dtype="int32"), rng.integers(0, vocab_size, shape, dtype="int32")
    model.fit(x[: hp.batch_size], y[: hp.batch_size], batch_size=hp.batch_size, shuffle=False, verbose=0)
    seconds = math.inf
    for _ in range(PROBE_ROUNDS):
        began = time.perf_counter()
        model.fit(x[hp.batch_size :], y[hp.batch_size :], batch_size=hp.batch_size, shuffle=False, verbose=0)
        seconds = min(seconds, time.perf_counter() - began)
    del model
    keras.backend.clear_session()
    return PROBE_BATCHES * hp.batch_size * shape[1] / seconds


def _epoch_seconds(n_chars: int, hp: Hyperparameters, speed: float) -> float:
    shape = layout(n_chars, hp)
    return (shape.train_targets + shape.validation_targets / EVAL_SPEEDUP) / speed


def plan_budget(
    n_chars: int,
    vocab_size: int,
    hp: Hyperparameters,
    speed: Speed = measure_speed,
    recipe: Mapping[str, Any] = RECIPE,
) -> BudgetPlan:
    """The recipe for `hp.budget_seconds` on a corpus of `n_chars` characters (after cleaning).
    `recipe`: RECIPE, or a variant of it (the measurements compare them)."""
    budget = hp.budget_seconds
    if budget is None:
        raise ValueError("plan_budget needs hyperparameters with budget_seconds")
    chosen = chosen_fields(hp)
    reasons: list[str] = []
    hp = hp.model_copy(update={name: value for name, value in recipe.items() if name in chosen})
    hp = Hyperparameters.model_validate(hp.model_dump())  # seq_len's default follows the new mode
    usable = budget * (1 - MARGIN)
    if "batch_size" in chosen and layout(n_chars, hp).batches < MIN_BATCHES:
        smaller = batch_size_for(n_chars, hp)
        if smaller is not None:
            update = {"batch_size": smaller}
            if "learning_rate" in chosen:  # Adam's rate scales with the square root of the batch
                update["learning_rate"] = hp.learning_rate * (smaller / hp.batch_size) ** 0.5
            reasons.append(
                f"batch size {smaller} (not {hp.batch_size}): the corpus gives under {MIN_BATCHES} batches per "
                f"epoch at {hp.batch_size}; learning rate scaled by the square root of the batch"
            )
            hp = hp.model_copy(update=update)
    if (problem := layout(n_chars, hp).problem) is not None:  # nothing to plan: training says what is missing
        return BudgetPlan(hp, n_chars, 0.0, 0.0, (f"the corpus is too short: {problem}",), replan=False)
    shapes = SHAPES if {"layers", "units"} <= chosen else ((hp.layers, hp.units),)
    pick, pick_speed = None, 0.0
    for layers, units in shapes:
        candidate = hp.model_copy(update={"layers": layers, "units": units})
        measured = speed(candidate, vocab_size)
        weights = parameters(candidate, vocab_size)
        seen = measured * usable
        fits = seen >= CHARS_PER_WEIGHT * weights
        if pick is None or fits:
            pick, pick_speed = candidate, measured
        if len(shapes) > 1:
            verdict = "fits" if fits else f"too large (under {CHARS_PER_WEIGHT:.0f} characters per weight)"
            reasons.append(
                f"{layers} x {units}: {measured:,.0f} chars/s measured, {seen / 1e6:.1f}M characters in the budget "
                f"for {weights / 1e6:.2f}M weights: {verdict}"
            )
        if not fits:
            break
    assert pick is not None
    hp = pick
    train_chars = n_chars
    epoch = _epoch_seconds(n_chars, hp, pick_speed)
    if "epochs" in chosen:
        if epoch > usable:
            train_chars = _prefix_for(n_chars, hp, pick_speed, usable)
            epoch = _epoch_seconds(train_chars, hp, pick_speed)
            reasons.append(
                f"1 epoch of the first {train_chars:,} of {n_chars:,} characters: a whole pass does not fit the budget"
            )
            epochs = 1
        else:
            epochs = max(1, int(usable // epoch))
            reasons.append(f"{epochs} epochs of {n_chars:,} characters, {epoch:.0f} s each (validation included)")
        hp = hp.model_copy(update={"epochs": epochs})
    steps = layout(train_chars, hp).batches * hp.epochs
    if hp.schedule == "cosine":
        if "warmup_steps" in chosen:
            hp = hp.model_copy(update={"warmup_steps": round(WARMUP_SHARE * steps)})
        reasons.append(
            f"{hp.optimizer}, learning rate {hp.learning_rate:g}: warm-up over {min(hp.warmup_steps, steps)} batches, "
            f"cosine decay to a tenth at batch {steps:,}"
        )
    reasons.append(
        f"{hp.layers} x {hp.units}, batch {hp.batch_size}, sequences of {hp.seq_len}, dropout {hp.dropout:g}; "
        f"the run stops at {budget:,} s and keeps its best epoch"
    )
    return BudgetPlan(hp, train_chars, pick_speed, epoch * hp.epochs, tuple(reasons), "epochs" in chosen)


def epochs_that_fit(epoch_seconds: list[float], remaining: float) -> int:
    """After each epoch of a budgeted run whose epochs the recipe chose: the epochs done plus the
    whole epochs, at their mean time (and MARGIN more), that the `remaining` seconds still pay for.
    The speed measured at the start can be wrong (this machine's training speed has been seen to
    halve for minutes at a time), so the run is re-planned to end on a whole epoch and the cosine
    schedule re-spanned to that end."""
    mean = sum(epoch_seconds) / len(epoch_seconds)
    return len(epoch_seconds) + int(max(remaining, 0.0) // (mean * (1 + MARGIN)))


def _prefix_for(n_chars: int, hp: Hyperparameters, speed: float, seconds: float) -> int:
    """The longest prefix of the corpus whose one epoch fits `seconds` (found by bisection)."""
    low, high = 0, n_chars
    while high - low > 1000:
        middle = (low + high) // 2
        low, high = (middle, high) if _epoch_seconds(middle, hp, speed) <= seconds else (low, middle)
    return max(low, 1)
