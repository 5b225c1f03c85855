"""shared/research/comparison.py: TensorBoard's smoothing, what varies, the table, sample quality read
defensively."""

import math
from types import SimpleNamespace
from typing import Any

import pytest

from shared.research.comparison import (
    EpochFigures,
    Run,
    compare,
    ema,
    epochs_label,
    mean_quality,
    run_from_job,
    varying,
    varying_columns,
)

LN2 = math.log(2)


def epochs(*val_losses, seconds=2.0, cps=500.0):
    return [EpochFigures(i, 3.0, v, seconds, cps) for i, v in enumerate(val_losses, start=1)]


def test_ema_is_tensorboards_debiased_moving_average():
    assert ema([4.0, 2.0, 3.0], 0.0) == [4.0, 2.0, 3.0]
    smoothed = ema([4.0, 2.0, 3.0], 0.6)
    assert smoothed[0] == pytest.approx(4.0)  # debiased: the first point is not pulled to 0
    assert smoothed[1] == pytest.approx((0.6 * 0.4 * 4.0 + 0.4 * 2.0) / (1 - 0.36))
    assert smoothed[2] == pytest.approx((0.6 * (0.6 * 0.4 * 4.0 + 0.4 * 2.0) + 0.4 * 3.0) / (1 - 0.216))
    assert ema([5.0] * 10, 0.9) == pytest.approx([5.0] * 10)  # a constant stays constant
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_varying_names_only_what_differs():
    assert varying([{"a": 1, "b": 2}]) == []
    assert varying([{"a": 1, "b": 2}, {"a": 1, "b": 3}, {"a": 1, "b": 2, "c": 0}]) == ["b", "c"]


def test_one_epochs_column_reached_of_planned():
    """A varying `epochs` is not a column of its own: the table's Epochs column says reached / planned."""
    assert varying_columns(["units", "epochs", "seed"]) == ["units", "seed"]
    continued = Run(7, {"epochs": 5}, [EpochFigures(4, 3.0, 2.0, 1.0, 9.0)])  # its epochs 1-3 are the parent's
    assert epochs_label(continued) == "4 / 5"
    assert epochs_label(Run(8, {}, [])) == "0"
    result = compare([Run(1, {"epochs": 3, "units": 8}, epochs(2.0, 1.9)), continued])
    assert result["varying"] == ["epochs", "units"] and result["columns"] == ["units"]
    assert sorted(r["epochs_label"] for r in result["table"]) == ["2 / 3", "4 / 5"]


def test_table_ranks_by_best_validation_and_uses_the_engines_best_epoch():
    runs = [
        Run(1, {"seq_len": 50, "units": 8}, epochs(2.0, 1.4, 1.4, 1.6)),  # tie: the earliest epoch
        Run(2, {"seq_len": 100, "units": 8}, epochs(1.9, 1.1), status="running"),
        Run(3, {"seq_len": 200, "units": 8}, [], status="queued"),
        Run(4, {"seq_len": 400, "units": 8}, epochs(None, seconds=4.0, cps=100.0)),
    ]
    result = compare(runs)
    assert result["varying"] == ["seq_len"]
    assert [r["id"] for r in result["table"]] == [2, 1, 3, 4]
    first, second = result["table"][:2]
    assert (first["best_epoch"], first["best_val_bits"], first["status"]) == (2, pytest.approx(1.1 / LN2), "running")
    assert (second["best_epoch"], second["label"]) == (2, "seq_len=50")
    assert second["seconds_per_epoch"] == 2.0 and second["chars_per_second"] == 500.0
    assert second["last_loss_bits"] == pytest.approx(3.0 / LN2)
    empty = result["table"][2]
    assert (empty["best_epoch"], empty["seconds_per_epoch"], empty["epochs"]) == (None, None, 0)
    assert result["curves"][3]["val_bits"] == [] and result["curves"][3]["train_bits"] == [[1, 3.0 / LN2]]


def test_quality_is_the_mean_over_texts_and_read_defensively():
    junk: Any = "junk"
    quality, count = mean_quality([{"parse_rate": 0.5, "bits_per_char": 2.0}, {"parse_rate": 1.0}, junk])
    assert count == 2 and quality == {"parse_rate": 0.75, "bits_per_char": 2.0}
    assert mean_quality([]) == (None, 0)
    job = SimpleNamespace(
        id=7, status=SimpleNamespace(value="succeeded"), hyperparameters_json={"units": 8},
        epochs=[SimpleNamespace(epoch=1, loss=2.0, val_loss=1.5, seconds=1.0, chars_per_second=9.0)],
    )  # fmt: skip
    with_quality = SimpleNamespace(quality=[{"parse_rate": 0.25, "balanced_lines": 1.0}])
    without = SimpleNamespace()  # a Sample without the column
    run = run_from_job(job, [with_quality, without])
    assert run.quality == {"parse_rate": 0.25, "balanced_lines": 1.0} and run.samples == 1
    assert run.status == "succeeded" and run.epochs[0].val_loss == 1.5
