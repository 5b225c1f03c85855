"""The budgeted recipe: its plan from a corpus size, a speed and a budget, and real runs that keep
to their budget with the cosine schedule spanning the planned batches."""

import time
from typing import Any

import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.batching import layout
from shared.engine.training.budget import (
    CHARS_PER_WEIGHT,
    MARGIN,
    RECIPE,
    WARMUP_SHARE,
    chosen_fields,
    measure_speed,
    plan_budget,
)
from shared.engine.training.model import COSINE_FLOOR
from shared.engine.training.sizing import parameters
from shared.engine.training.train import TrainingCallbacks, train

from .test_train import TINY, Recorder, text  # noqa: F401 - the module's corpus fixture

VOCAB = 90


class Speeds:
    """A speed function answering from a table by (layers, units), recording what it was asked."""

    def __init__(self, table: dict[tuple[int, int], float]):
        self.table = table
        self.asked: list[tuple[int, int]] = []

    def __call__(self, hp, vocab_size):
        self.asked.append((hp.layers, hp.units))
        return self.table[(hp.layers, hp.units)]


def test_the_largest_network_the_budget_feeds_is_chosen_and_the_next_is_not_timed_beyond_it():
    budget = 900
    speed = Speeds({(2, 128): 40_000.0, (2, 256): 17_000.0, (2, 384): 9_000.0})
    plan = plan_budget(2_000_000, VOCAB, Hyperparameters(budget_seconds=budget), speed)
    hp = plan.hyperparameters
    assert (hp.layers, hp.units) == (2, 256)
    assert speed.asked == [(2, 128), (2, 256), (2, 384)]  # 2 x 384 was too large: 2 x 512 never timed
    assert 17_000 * budget * (1 - MARGIN) >= CHARS_PER_WEIGHT * parameters(hp, VOCAB)
    assert 9_000 * budget * (1 - MARGIN) < CHARS_PER_WEIGHT * parameters(hp.model_copy(update={"units": 384}), VOCAB)
    for name, value in RECIPE.items():
        assert getattr(hp, name) == value, name
    # whole epochs that fit the budget, and one more would not
    assert plan.seconds_planned <= budget * (1 - MARGIN)
    assert plan.seconds_planned / hp.epochs * (hp.epochs + 1) > budget * (1 - MARGIN)
    assert plan.train_chars == 2_000_000
    cosine = plan_budget(2_000_000, VOCAB, Hyperparameters(budget_seconds=budget, schedule="cosine"), speed)
    steps = layout(2_000_000, cosine.hyperparameters).batches * cosine.hyperparameters.epochs
    assert cosine.hyperparameters.warmup_steps == round(WARMUP_SHARE * steps) > 0
    assert any("2 x 384" in line and "too large" in line for line in plan.reasons)


def test_fields_given_other_values_are_kept_and_the_rest_chosen():
    given = Hyperparameters(budget_seconds=600, units=64, layers=1, dropout=0.3, learning_rate=0.01, epochs=3)
    assert chosen_fields(given) == frozenset(RECIPE) - {"dropout", "learning_rate"} | {"warmup_steps"}
    speed = Speeds({(1, 64): 50_000.0})
    hp = plan_budget(1_000_000, VOCAB, given, speed).hyperparameters
    assert (hp.layers, hp.units, hp.dropout, hp.learning_rate, hp.epochs) == (1, 64, 0.3, 0.01, 3)
    assert (hp.optimizer, hp.schedule, hp.seq_len) == (RECIPE["optimizer"], RECIPE["schedule"], RECIPE["seq_len"])
    assert speed.asked == [(1, 64)]


def test_a_corpus_larger_than_the_budget_sees_is_cut_to_one_pass_of_its_prefix():
    plan = plan_budget(50_000_000, VOCAB, Hyperparameters(budget_seconds=60), Speeds({(2, 128): 20_000.0}))
    assert plan.hyperparameters.epochs == 1
    usable = 60 * (1 - MARGIN)
    assert plan.seconds_planned <= usable < plan.seconds_planned + 1  # the longest prefix that fits
    assert 0.9 * 20_000 * usable < plan.train_chars < 1.1 * 20_000 * usable


def test_a_small_corpus_gets_a_smaller_batch_with_the_rate_scaled_by_its_square_root():
    plan = plan_budget(300_000, VOCAB, Hyperparameters(budget_seconds=60), Speeds({(2, 128): 20_000.0}))
    hp = plan.hyperparameters
    assert hp.batch_size < RECIPE["batch_size"] and layout(300_000, hp).batches >= 200
    assert hp.learning_rate == pytest.approx(RECIPE["learning_rate"] * (hp.batch_size / RECIPE["batch_size"]) ** 0.5)


def test_the_budget_is_for_stateful_runs_and_at_least_ten_seconds():
    with pytest.raises(ValueError, match="trains statefully"):
        Hyperparameters(budget_seconds=60, mode="stateless")
    with pytest.raises(ValueError):
        Hyperparameters(budget_seconds=5)


def test_measure_speed_times_real_batches():
    assert measure_speed(Hyperparameters(**{**TINY, "layers": 1, "units": 8}), VOCAB) > 0


@pytest.mark.backends
def test_a_budgeted_cosine_run_follows_its_schedule_to_the_end_of_its_planned_epochs(text, tmp_path):  # noqa: F811
    rec = Recorder()
    asked = {**TINY, "units": 8, "seq_len": 10, "schedule": "cosine", "warmup_steps": 5}
    result = train(text, Hyperparameters(**asked, epochs=3, budget_seconds=120), tmp_path, rec)
    planned = rec.plan.hyperparameters
    assert rec.plan.budget is not None and (planned.optimizer, planned.schedule) == ("adam", "cosine")
    assert result.stopped == "completed" and len(result.history) == 3
    model: Any = result.model
    optimizer = model.optimizer
    steps = rec.plan.batches_per_epoch * 3
    assert int(optimizer.iterations) == steps
    # warm-up from 0, the peak after it, a tenth of the peak at the last planned batch
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == 0.0
    assert float(schedule(5)) == pytest.approx(planned.learning_rate)
    assert float(schedule(steps)) == pytest.approx(COSINE_FLOOR * planned.learning_rate)


class Slow(TrainingCallbacks):
    def on_batch_end(self, epoch, batch, batches_per_epoch):
        time.sleep(0.01)


@pytest.mark.backends
def test_a_run_stops_when_its_budget_is_spent_and_keeps_its_best_epoch(text, tmp_path):  # noqa: F811
    hp = Hyperparameters(**{**TINY, "units": 8, "seq_len": 10}, epochs=1000, budget_seconds=10)
    began = time.perf_counter()
    result = train(text[:3000], hp, tmp_path, Slow())  # short epochs: several end within the budget, even loaded
    assert result.stopped == "budget"
    assert time.perf_counter() - began < 10 + 5  # the batch that crossed the line, and the last checkpoint
    assert result.best_epoch is not None and result.best_epoch <= len(result.history)


def test_a_corpus_too_short_for_the_recipe_gets_the_usual_error(tmp_path):
    plan = plan_budget(50, VOCAB, Hyperparameters(budget_seconds=60), Speeds({}))
    assert plan.reasons[0].startswith("the corpus is too short") and not plan.replan
    with pytest.raises(ValueError, match="corpus too short"):
        train("x = 1\n" * 5, Hyperparameters(budget_seconds=60), tmp_path)
