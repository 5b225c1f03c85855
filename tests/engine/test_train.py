"""Real (tiny) TensorFlow training: reports, checkpoints, resume, cancellation, early stopping."""

import json

import numpy as np
import pytest

from shared.engine import checkpoint as ckpt
from shared.engine.config import Hyperparameters
from shared.engine.model import build_model, lstm_layers, reset_states
from shared.engine.train import EpochReport, TrainingCallbacks, load_checkpoint, should_stop_early, train

TINY = dict(layers=2, units=16, seq_len=20, batch_size=8, validation_split=0.1, patience=0, seed=7)


@pytest.fixture(scope="module")
def text():
    import inspect
    import json as json_module
    import textwrap

    return textwrap.dedent(inspect.getsource(json_module.decoder))[:12_000]


class Recorder(TrainingCallbacks):
    def __init__(self, stop_after_batches=None):
        self.batches, self.epochs, self.began = [], [], None
        self.stop_after_batches = stop_after_batches

    def on_train_begin(self, start_epoch, epochs, batches_per_epoch):
        self.began = (start_epoch, epochs, batches_per_epoch)

    def on_batch_end(self, epoch, batch, batches_per_epoch):
        self.batches.append((epoch, batch))

    def should_stop(self):
        return self.stop_after_batches is not None and len(self.batches) >= self.stop_after_batches

    def on_epoch_end(self, report, checkpoint_dir):
        assert ckpt.is_checkpoint(checkpoint_dir)
        self.epochs.append(report)


def test_two_epochs_report_and_checkpoint(text, tmp_path):
    rec = Recorder()
    hp = Hyperparameters(**TINY, epochs=2, tabs=True)
    result = train(text, hp, tmp_path, rec)
    assert result.stopped == "completed"
    assert [r.epoch for r in result.history] == [1, 2] == [r.epoch for r in rec.epochs]
    start, epochs, batches = rec.began
    assert (start, epochs) == (1, 2) and batches >= 1
    assert rec.batches[-1] == (2, batches)
    first = result.history[0]
    assert first.val_loss is not None and first.loss > 0 and first.chars_per_second > 0
    assert first.loss_bits == pytest.approx(first.loss / np.log(2))
    meta = json.loads((ckpt.latest_checkpoint(tmp_path) / "checkpoint.json").read_text())
    assert meta["epoch"] == 2 and len(meta["history"]) == 2
    assert meta["hyperparameters"]["units"] == 16 and meta["transforms"] == {"lowercase": False, "tabs": True}
    assert "\t" in "".join(meta["vocabulary"]) and meta["warmup_text"]
    loaded = load_checkpoint(tmp_path)
    assert loaded.hp == hp and loaded.epoch in (1, 2) and loaded.epoch == meta["best_epoch"]
    assert loaded.model.optimizer.iterations.numpy() > 0  # optimizer state came back


def test_resume_repeats_a_straight_run(text, tmp_path):
    """2 epochs + resume + 2 epochs == 4 epochs straight (this also needs the per-epoch state reset)."""
    hp4 = Hyperparameters(**TINY, epochs=4)
    straight = train(text, hp4, tmp_path / "straight").history
    train(text, hp4.model_copy(update={"epochs": 2}), tmp_path / "resumed")
    resumed = train(text, hp4, tmp_path / "resumed", resume=True).history
    assert [r.epoch for r in resumed] == [1, 2, 3, 4]
    np.testing.assert_allclose([r.loss for r in resumed], [r.loss for r in straight], rtol=1e-4)
    np.testing.assert_allclose([r.val_loss for r in resumed], [r.val_loss for r in straight], rtol=1e-4)


def test_resume_refuses_a_different_model(text, tmp_path):
    train(text, Hyperparameters(**TINY, epochs=1), tmp_path)
    with pytest.raises(ValueError, match="units=16"):
        train(text, Hyperparameters(**{**TINY, "units": 8}, epochs=2), tmp_path, resume=True)


def test_stop_request_stops_at_a_batch_boundary_without_a_partial_checkpoint(text, tmp_path):
    rec = Recorder(stop_after_batches=3)
    result = train(text, Hyperparameters(**TINY, epochs=5), tmp_path, rec)
    assert result.stopped == "callback" and result.history == []
    assert len(rec.batches) == 3 and ckpt.latest_checkpoint(tmp_path) is None


def test_should_stop_early_counts_epochs_without_improvement():
    def rep(epoch, val):
        return EpochReport(epoch=epoch, loss=1.0, val_loss=val, seconds=1.0, chars_per_second=1.0)

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
    assert load_checkpoint(tmp_path).epoch == result.best_epoch


def test_stateless_baseline_trains(text, tmp_path):
    hp = Hyperparameters(mode="stateless", layers=1, units=16, step=3, batch_size=64, epochs=1)
    assert hp.seq_len == 40
    result = train(text, hp, tmp_path)
    assert result.history[0].val_loss is not None


def test_reset_states_zeroes_every_lstm():
    model = build_model(Hyperparameters(layers=2, units=4, seq_len=5, batch_size=2), vocab_size=6)
    model(np.ones((2, 5), dtype="int32"))
    assert any(np.abs(np.asarray(v)).sum() > 0 for layer in lstm_layers(model) for v in layer.states)
    reset_states(model)
    assert all(np.abs(np.asarray(v)).sum() == 0 for layer in lstm_layers(model) for v in layer.states)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
