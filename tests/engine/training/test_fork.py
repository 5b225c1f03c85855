"""Continuing and forking a trained model: the history goes on with no gap or repeat,
forkable changes rebuild the network around the saved weights, the optimizer state is kept for the
same optimizer and dropped for another, architectural changes are refused, and a continued run
gets its full patience."""

import shutil
from typing import Any

import pytest

from shared.engine.config import FORKABLE, Hyperparameters, fork_hyperparameters
from shared.engine.training import checkpoint as ckpt
from shared.engine.training.train import EpochReport, should_stop_early, train

TINY = {"layers": 1, "units": 8, "seq_len": 20, "batch_size": 8, "validation_split": 0.1, "patience": 0, "seed": 3}


@pytest.fixture(scope="module")
def text():
    import inspect
    import json.decoder

    return inspect.getsource(json.decoder)[:6_000]


@pytest.fixture(scope="module")
def parent(text, tmp_path_factory):
    """A run folder trained for 2 epochs."""
    run = tmp_path_factory.mktemp("parent")
    train(text, Hyperparameters(**TINY, epochs=2), run)
    return run


def _model(path) -> Any:
    """The Keras model of a checkpoint folder."""
    return ckpt.load(path).model


def _fork(parent, tmp_path, **changes):
    run = tmp_path / "child"
    shutil.copytree(ckpt.epoch_dir(parent, 2), ckpt.epoch_dir(run, 2))
    return run, Hyperparameters(**{**TINY, "epochs": 3, **changes})


def test_fork_changes_learning_rate_dropout_batch_size_and_keeps_optimizer_state(parent, text, tmp_path):
    run, hp = _fork(parent, tmp_path, learning_rate=0.01, dropout=0.2, batch_size=4)
    parent_iterations = int(_model(ckpt.epoch_dir(parent, 2)).optimizer.iterations.numpy())
    result = train(text, hp, run, resume=True, allowed_changes=FORKABLE)
    assert [r.epoch for r in result.history] == [1, 2, 3]  # no gap, no repeat
    saved = ckpt.load(ckpt.epoch_dir(run, 3))
    assert saved.hyperparameters.batch_size == 4 and saved.hyperparameters.dropout == 0.2
    model = _model(ckpt.epoch_dir(run, 3))
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)
    assert model.inputs[0].shape[0] == 4  # the stateful network was rebuilt for the new batch size
    # the same optimizer carried its state on: its iteration count goes on from the parent's
    assert int(model.optimizer.iterations.numpy()) > parent_iterations


def test_fork_with_another_optimizer_drops_its_state(parent, text, tmp_path):
    run, hp = _fork(parent, tmp_path, optimizer="adam")
    parent_iterations = int(_model(ckpt.epoch_dir(parent, 2)).optimizer.iterations.numpy())
    result = train(text, hp, run, resume=True, allowed_changes=FORKABLE)
    assert [r.epoch for r in result.history] == [1, 2, 3]
    saved = ckpt.load(ckpt.epoch_dir(run, 3))
    assert saved.hyperparameters.optimizer == "adam"
    assert (
        int(_model(ckpt.epoch_dir(run, 3)).optimizer.iterations.numpy()) == parent_iterations // 2
    )  # one epoch of steps


def test_a_plain_resume_still_refuses_fork_changes(parent, text, tmp_path):
    run, hp = _fork(parent, tmp_path, learning_rate=0.01)
    with pytest.raises(ValueError, match="learning_rate"):
        train(text, hp, run, resume=True)


def test_architectural_changes_are_refused():
    base = Hyperparameters(**TINY, epochs=2)
    assert fork_hyperparameters(base, {"learning_rate": 0.01, "epochs": 9}).epochs == 9
    with pytest.raises(ValueError, match=r"layers \(1 -> 2\).*units \(8 -> 16\)"):
        fork_hyperparameters(base, {"layers": 2, "units": 16})
    with pytest.raises(ValueError, match="seq_len"):
        fork_hyperparameters(base, {"seq_len": 40})


def test_a_continued_run_gets_its_full_patience():
    history = [EpochReport(e, 1.0, loss, 1.0, 1.0) for e, loss in [(1, 1.0), (2, 1.1), (3, 1.2)]]
    assert should_stop_early(history, patience=2)
    assert not should_stop_early(history, patience=2, since=2)  # continued after epoch 2
