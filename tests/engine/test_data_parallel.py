"""One job on two devices: Keras's DataParallel on JAX with two virtual CPU devices (a subprocess,
see data_parallel_probe.py) trains exactly as one device does, each row's state with its row."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.numerics import assert_close

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("driven from the TensorFlow run")
    out = tmp_path_factory.mktemp("data_parallel")
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.engine.data_parallel_probe", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return np.load(out / "result.npz")


def test_two_devices_are_seen_and_the_job_trains_on_both(result):
    assert list(result["devices"]) == ["cpu:0", "cpu:1"]
    assert int(result["mesh1"]) == 0 and int(result["mesh2"]) == 2


def test_each_device_holds_a_contiguous_block_of_rows(result):
    np.testing.assert_array_equal(result["rows_per_device"], [[0, 1, 2, 3], [4, 5, 6, 7]])


def test_an_epochs_loss_equals_the_single_device_loss(result):
    assert_close(result["loss2"], result["loss1"], rel=1e-4)
    assert_close(result["val_loss2"], result["val_loss1"], rel=1e-4)
    assert result["loss1"][1] < result["loss1"][0]  # it did train


def test_each_rows_state_stays_with_its_row(result):
    one, two = result["states1"], result["states2"]  # (layers x {h, c}, rows, units)
    assert_close(two, one, rel=1e-4)  # cell states reach ~10
    assert np.abs(one[:, 0] - one[:, 4]).max() > 1e-3  # rows differ: a swap would be seen


def test_jobs_the_devices_cannot_serve_are_refused(result):
    stateless, odd_batch, too_many = result["refusals"]
    assert "for stateful jobs" in stateless
    assert "batch_size 7 must be a multiple of devices (2)" in odd_batch
    assert "asks for 3 devices; this worker has 2" in too_many
