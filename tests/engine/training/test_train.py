"""Real (tiny) TensorFlow training: reports, checkpoints, resume, cancellation, early stopping."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.training import checkpoint as ckpt
from shared.engine.training.model import build_model, lstm_layers, reset_states
from shared.engine.training.train import (
    EpochReport,
    TrainingCallbacks,
    TrainingPlan,
    _epoch_inputs,
    best_epoch,
    should_stop_early,
    train,
)
from tests.numerics import assert_close

TINY = {"layers": 2, "units": 16, "seq_len": 20, "batch_size": 8, "validation_split": 0.1, "patience": 0, "seed": 7}


@pytest.fixture(scope="module")
def text():
    import inspect
    import json as json_module
    import textwrap

    return textwrap.dedent(inspect.getsource(json_module.decoder))[:12_000]


class Recorder(TrainingCallbacks):
    def __init__(self, stop_after_batches=None):
        self.batches, self.epochs, self.plan, self.losses = [], [], None, []
        self.stop_after_batches = stop_after_batches

    def on_train_begin(self, plan):
        assert isinstance(plan, TrainingPlan) and self.plan is None
        self.plan = plan

    def on_batch_end(self, epoch, batch, batches_per_epoch):
        self.batches.append((epoch, batch))

    def on_batch_loss(self, epoch, batch, batches_per_epoch, loss):
        self.losses.append((epoch, batch, loss))

    def should_stop(self):
        return self.stop_after_batches is not None and len(self.batches) >= self.stop_after_batches

    def on_epoch_end(self, report, checkpoint_dir):
        assert ckpt.is_checkpoint(checkpoint_dir)
        self.epochs.append(report)


@pytest.mark.backends
def test_two_epochs_report_and_checkpoint(text, tmp_path):
    rec = Recorder()
    hp = Hyperparameters(**TINY, epochs=2, tabs=True)
    result = train(text, hp, tmp_path, rec)
    assert result.stopped == "completed"
    assert [r.epoch for r in result.history] == [1, 2] == [r.epoch for r in rec.epochs]
    plan = rec.plan
    assert (plan.start_epoch, plan.epochs, plan.history, plan.hyperparameters) == (1, 2, (), hp)
    batches = plan.batches_per_epoch
    assert batches >= 1 and rec.batches[-1] == (2, batches) and len(rec.batches) == 2 * batches
    # the running loss after every batch (the live curves); an epoch's last is its reported loss
    assert [(e, b) for e, b, _ in rec.losses] == rec.batches
    for report in result.history:
        last = [loss for e, b, loss in rec.losses if e == report.epoch and b == batches]
        assert last == [pytest.approx(report.loss, rel=1e-5)]
    # the model's vocabulary (tabs added a "\t"), the corpus and the targets it trains on per epoch
    assert "\t" in plan.vocabulary.chars and plan.corpus_chars < len(text)
    assert plan.targets_per_epoch == batches * hp.batch_size * hp.seq_len and plan.validation_targets > 0
    first = result.history[0]
    assert first.val_loss is not None and first.loss > 0 and first.chars_per_second > 0
    assert first.loss_bits == pytest.approx(first.loss / np.log(2))
    latest = ckpt.latest_checkpoint(tmp_path)
    assert latest is not None
    meta = json.loads((latest / "checkpoint.json").read_text())
    assert meta["epoch"] == 2 and len(meta["history"]) == 2
    assert meta["hyperparameters"]["units"] == 16 and meta["transforms"] == {"lowercase": False, "tabs": True}
    assert "\t" in "".join(meta["vocabulary"]) and meta["warmup_text"]
    loaded = ckpt.load(tmp_path)
    assert loaded.hyperparameters == hp and loaded.epoch in (1, 2) and loaded.epoch == meta["best_epoch"]
    assert loaded.vocabulary == plan.vocabulary
    assert loaded.model.optimizer.iterations.numpy() > 0  # type: ignore[attr-defined]  # optimizer state came back


STATELESS_TINY = {**TINY, "mode": "stateless", "step": 5, "batch_size": 64}


@pytest.mark.parametrize("tiny", [TINY, STATELESS_TINY], ids=["stateful", "stateless"])
def test_resume_repeats_a_straight_run(text, tmp_path, tiny):
    """2 epochs + resume + 2 epochs == 4 epochs straight (stateful: this also needs the per-epoch
    state reset; stateless: the shuffled order of every epoch depends only on the seed and epoch)."""
    hp4 = Hyperparameters(**tiny, epochs=4)
    straight = train(text, hp4, tmp_path / "straight").history
    train(text, hp4.model_copy(update={"epochs": 2}), tmp_path / "resumed")
    rec = Recorder()
    resumed = train(text, hp4, tmp_path / "resumed", rec, resume=True).history
    assert rec.plan.start_epoch == 3 and [r.epoch for r in rec.plan.history] == [1, 2]
    assert [r.epoch for r in resumed] == [1, 2, 3, 4]
    np.testing.assert_allclose([r.loss for r in resumed], [r.loss for r in straight], rtol=1e-4)
    np.testing.assert_allclose(
        np.array([r.val_loss for r in resumed], dtype=float),
        np.array([r.val_loss for r in straight], dtype=float),
        rtol=1e-4,
    )


def test_resume_refuses_a_different_model(text, tmp_path):
    train(text, Hyperparameters(**TINY, epochs=1), tmp_path)
    with pytest.raises(ValueError, match="units=16"):
        train(text, Hyperparameters(**{**TINY, "units": 8}, epochs=2), tmp_path, resume=True)


@pytest.mark.backends
def test_stop_request_stops_at_a_batch_boundary_without_a_partial_checkpoint(text, tmp_path):
    rec = Recorder(stop_after_batches=3)
    result = train(text, Hyperparameters(**TINY, epochs=5), tmp_path, rec)
    assert result.stopped == "callback" and result.history == []
    assert len(rec.batches) == 3 and ckpt.latest_checkpoint(tmp_path) is None


def rep(epoch, val):
    return EpochReport(epoch=epoch, loss=1.0, val_loss=val, seconds=1.0, chars_per_second=1.0)


def test_best_epoch_lowest_validation_loss_earliest_on_ties():
    assert best_epoch([rep(1, 2.0), rep(2, 1.5), rep(3, 1.5), rep(4, 1.7)]).epoch == 2
    assert best_epoch([rep(3, 1.5), rep(2, 1.5), rep(1, 1.6)]).epoch == 2  # not the order given
    assert best_epoch([rep(1, None), rep(2, 3.0), rep(3, float("nan")), rep(4, None)]).epoch == 2
    assert best_epoch([rep(1, None), rep(2, float("nan"))]) is None and best_epoch([]) is None
    # any objects with .epoch and .val_loss (the service's database rows)
    rows = [SimpleNamespace(epoch=5, val_loss=0.5), SimpleNamespace(epoch=4, val_loss=0.5)]
    assert best_epoch(iter(rows)) is rows[1]


def test_should_stop_early_counts_epochs_without_improvement():
    history = [rep(1, 2.0), rep(2, 1.5), rep(3, 1.6), rep(4, 1.7)]
    assert not should_stop_early(history, patience=3)
    assert should_stop_early(history, patience=2)
    assert not should_stop_early(history, patience=0)  # disabled


def test_early_stopping_keeps_the_best_checkpoint(text, tmp_path):
    # a learning rate far too high makes validation loss stop improving at once
    hp = Hyperparameters(**{**TINY, "patience": 1, "learning_rate": 3.0, "clipnorm": 1e6}, epochs=8)
    result = train(text, hp, tmp_path)
    assert result.stopped == "early_stopping"
    assert len(result.history) < 8
    assert ckpt.load(tmp_path).epoch == result.best_epoch


def test_stateless_baseline_trains(text, tmp_path):
    hp = Hyperparameters(mode="stateless", layers=1, units=16, step=3, batch_size=64, epochs=1)
    assert hp.seq_len == 40
    rec = Recorder()
    result = train(text, hp, tmp_path, rec)
    assert result.history[0].val_loss is not None
    windows = rec.plan.targets_per_epoch  # one target per window
    assert rec.plan.batches_per_epoch == -(-windows // 64) == rec.batches[-1][1]


def test_stateless_windows_are_shuffled_every_epoch_by_seed_and_epoch():
    from shared.engine.data.batching import make_arrays

    ids = np.arange(500)  # every target distinct
    stateless = Hyperparameters(mode="stateless", seq_len=10, step=3, seed=5)
    arrays = make_arrays(ids, stateless)
    x1, y1 = _epoch_inputs(arrays, stateless, 1)
    x2, _ = _epoch_inputs(arrays, stateless, 2)
    assert not np.array_equal(x1, arrays.x_train) and not np.array_equal(x1, x2)
    np.testing.assert_array_equal(x1, _epoch_inputs(arrays, stateless, 1)[0])  # repeatable
    order = np.argsort(y1)  # the same windows, each with its own target
    np.testing.assert_array_equal(x1[order], arrays.x_train[np.argsort(arrays.y_train)])
    other_seed = _epoch_inputs(arrays, stateless.model_copy(update={"seed": 6}), 1)[0]
    assert not np.array_equal(x1, other_seed)
    stateful = Hyperparameters(seq_len=10, batch_size=4)
    arrays = make_arrays(ids, stateful)
    assert _epoch_inputs(arrays, stateful, 3)[0] is arrays.x_train  # never shuffled


@pytest.mark.backends
def test_reset_states_zeroes_every_lstm():
    model = build_model(Hyperparameters(layers=2, units=4, seq_len=5, batch_size=2), vocab_size=6)
    model(np.ones((2, 5), dtype="int32"))
    assert any(np.abs(np.asarray(v)).sum() > 0 for layer in lstm_layers(model) for v in layer.states)
    reset_states(model)
    assert all(np.abs(np.asarray(v)).sum() == 0 for layer in lstm_layers(model) for v in layer.states)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="not a checkpoint"):
        ckpt.load(tmp_path)


@pytest.mark.backends
def test_the_state_carries_from_batch_to_batch_in_fit_and_evaluate():
    """Every backend (Keras on JAX dropped the state between its compiled steps): evaluating two
    batches equals running them one after the other with the state carried, not from zeros."""
    from shared.engine.inference.numpy_lstm import softmax
    from tests.engine.tiny_models import as_numpy, randomise

    model = randomise(build_model(Hyperparameters(layers=1, units=8, seq_len=5, batch_size=2, dropout=0.0), 6), 4)
    rng = np.random.default_rng(9)
    x, y = rng.integers(0, 6, (4, 5)).astype("int32"), rng.integers(0, 6, (4, 5)).astype("int32")

    def nll(batch):
        probs = softmax(as_numpy(model(x[batch], training=False)))
        return float(-np.log(np.take_along_axis(probs, y[batch][..., None], -1)).mean())

    reset_states(model)
    evaluated = float(model.evaluate(x, y, batch_size=2, verbose=0))
    reset_states(model)
    carried = (nll(slice(0, 2)) + nll(slice(2, 4))) / 2
    reset_states(model)
    first = nll(slice(0, 2))
    reset_states(model)
    from_zeros = (first + nll(slice(2, 4))) / 2
    assert evaluated == pytest.approx(carried, abs=1e-4) and abs(carried - from_zeros) > 1e-3
    reset_states(model)
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert all(np.abs(as_numpy(v)).sum() > 0 for layer in lstm_layers(model) for v in layer.states)


@pytest.mark.backends
def test_the_transposed_gradient_cell_trains_exactly_as_keras_cell(monkeypatch):
    """The cell whose products backpropagate through weights transposed once per sequence
    (model.py): the same outputs, carried states and trained weights as Keras's LSTMCell, on
    TensorFlow and JAX (where Keras runs its own loop on the CPU)."""
    import keras

    if keras.backend.backend() == "torch":
        pytest.skip("Keras on PyTorch runs its own fused LSTM (backend.lstm), which never calls the cell")

    from shared.engine.training import model as model_module
    from tests.engine.tiny_models import as_numpy, randomise

    products: list[int] = []
    product = model_module.product

    def counted(*args):
        products.append(1)
        return product(*args)

    monkeypatch.setattr(model_module, "product", counted)
    hp = Hyperparameters(layers=2, units=8, seq_len=5, batch_size=2, dropout=0.0)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 6, (4, 5)).astype("int32"), rng.integers(0, 6, (4, 5)).astype("int32")
    runs: dict[str, dict] = {}
    for name in ("transposed", "keras"):
        if name == "keras":
            monkeypatch.setattr(model_module.TransposedGradientCell, "call", keras.layers.LSTMCell.call)
        products.clear()
        model = build_model(hp, 6)
        if name == "transposed":
            randomise(model, 4)
        else:
            model.set_weights(runs["transposed"]["initial"])
        initial = model.get_weights()
        outputs = [as_numpy(model(x[:2], training=False)), as_numpy(model(x[2:], training=False))]
        reset_states(model)
        model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
        states = [as_numpy(v) for layer in lstm_layers(model) for v in layer.states]
        runs[name] = {"initial": initial, "outputs": outputs, "states": states, "weights": model.get_weights()}
        assert bool(products) == (name == "transposed")  # the cell under test is the one that ran
        assert all(layer.cell.transposed is None for layer in lstm_layers(model))  # cleared after each call
    mine, reference = runs["transposed"], runs["keras"]
    assert not np.allclose(mine["outputs"][0], mine["outputs"][1], atol=1e-3)
    for key in ("outputs", "states", "weights"):
        for a, b in zip(mine[key], reference[key], strict=True):
            assert_close(a, b, rel=1e-5, err_msg=key)
    assert not all(np.allclose(a, b) for a, b in zip(mine["initial"], mine["weights"], strict=True))
