"""The engine on every Keras backend: the tests marked `backends` run again under JAX and PyTorch
(one subprocess per backend, in parallel, see backend_probe.py), and a checkpoint trained on one
backend loads and gives the same next-character probabilities (1e-4) on the others."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.engine.backend_probe import MARKED, TINY, probabilities, tiny_text

ROOT = Path(__file__).resolve().parents[2]
OTHERS = ("jax", "torch")
TOL = 1e-4
TIMEOUT = 1500


_early: dict = {}  # the probes started when collection ended (tests/conftest.py), if they were


def start_probes(tmp: Path) -> dict:
    """Train a tiny TensorFlow checkpoint in `tmp`, then start both other backends' probes
    (subprocesses, running while the caller goes on); returns them by backend."""
    from shared.engine.config import Hyperparameters
    from shared.engine.training.train import train

    train(tiny_text(), Hyperparameters(**TINY, epochs=1), tmp / "tensorflow")
    return {
        backend: subprocess.Popen(
            [sys.executable, "-m", "tests.engine.backend_probe", str(tmp / "tensorflow"), str(tmp / backend)],
            cwd=ROOT,
            env={**os.environ, "KERAS_BACKEND": backend},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for backend in OTHERS
    }


def start_early(tmp: Path) -> None:
    """Called once collection has ended: the probes (about a minute of two processes) then run
    alongside the rest of the suite, which leaves a core idle much of the time."""
    import keras

    if keras.backend.backend() == "tensorflow":
        _early.update(tmp=tmp, procs=start_probes(tmp))


def stop_early() -> None:
    """At the session's end: no probe outlives the suite (a run stopped early, `-x`, `-k`)."""
    for proc in _early.get("procs", {}).values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if "tmp" in _early:
        shutil.rmtree(_early["tmp"], ignore_errors=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny TensorFlow checkpoint and both other backends' probes: those started early, or now."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the matrix is driven from the TensorFlow run")
    if _early:
        tmp, procs = _early["tmp"], _early["procs"]
    else:
        tmp = tmp_path_factory.mktemp("backends")
        procs = start_probes(tmp)
    outputs = {}
    for backend, proc in procs.items():
        try:
            outputs[backend] = (proc.communicate(timeout=TIMEOUT)[0], proc.returncode)
        except subprocess.TimeoutExpired:
            proc.kill()
            outputs[backend] = (proc.communicate()[0], "timeout")
    return tmp, outputs


@pytest.mark.parametrize("backend", OTHERS)
def test_engine_tests_pass_on(runs, backend):
    tmp, outputs = runs
    output, status = outputs[backend]
    assert status == 0, f"{backend}: {status}\n{output[-6000:]}"
    assert " passed" in output.splitlines()[-1]
    assert json.loads((tmp / backend / "backend.json").read_text())["backend"] == backend


@pytest.mark.parametrize("backend", OTHERS)
def test_a_tensorflow_checkpoint_gives_the_same_probabilities_on(runs, backend):
    tmp, outputs = runs
    assert (tmp / backend / "given.npz").is_file(), outputs[backend][0][-6000:]
    here = probabilities(tmp / "tensorflow")
    there = np.load(tmp / backend / "given.npz")
    for path in ("keras", "numpy"):
        np.testing.assert_allclose(there[path], here[path], atol=TOL, err_msg=f"{path} on {backend}")
    assert not np.allclose(here["keras"][0], here["keras"][1], atol=TOL)  # the probe input matters


@pytest.mark.parametrize("backend", OTHERS)
def test_a_checkpoint_trained_on_another_backend_gives_the_same_probabilities_on_tensorflow(runs, backend):
    tmp, outputs = runs
    assert (tmp / backend / "own.npz").is_file(), outputs[backend][0][-6000:]
    there = np.load(tmp / backend / "own.npz")
    here = probabilities(tmp / backend / "run")
    for path in ("keras", "numpy"):
        np.testing.assert_allclose(here[path], there[path], atol=TOL, err_msg=f"{path}, trained on {backend}")


def test_the_probe_runs_every_file_with_backends_tests():
    here = Path(__file__).parent
    tests = [path for path in here.rglob("test_*.py") if path.name != Path(__file__).name]
    marked = {path.relative_to(here).as_posix() for path in tests if "@pytest.mark.backends" in path.read_text()}
    assert marked == set(MARKED)
