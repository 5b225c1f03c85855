"""The int8 net's kernel threads (shared/engine/inference/lowp.py): every usable core by default,
changed cheaply on a net or a clone, and the same texts whatever the count (integer sums are exact,
and the serial and parallel products round alike)."""

import os

import numpy as np
import pytest

from shared.engine.inference import lowp
from shared.engine.inference.lowp import QuantizedLSTM, cores_each, usable_cores
from shared.engine.inference.sample import generate
from tests.engine.inference.test_lowp import realistic

# numba's pool is sized at import from the machine's cores; a one-core machine has no second thread
two_threads = pytest.mark.skipif(lowp._POOL < 2, reason="numba's thread pool has one thread on this machine")


@pytest.fixture(scope="module")
def weights():
    return realistic(units=(256, 256))


def test_the_default_is_every_core_this_process_may_use(weights, monkeypatch):
    assert usable_cores() == min(len(os.sched_getaffinity(0)), lowp._POOL)
    assert QuantizedLSTM(*weights).threads == usable_cores()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})  # a process pinned to one core
    assert usable_cores() == 1 and QuantizedLSTM(*weights).threads == 1
    assert cores_each(3, cores=8) == 2 and cores_each(16, cores=8) == 1 and cores_each(1, cores=8) == 8


@two_threads
def test_one_and_two_threads_write_the_same_texts(weights):
    one = QuantizedLSTM(*weights, threads=1)
    two = one.clone()
    two.set_threads(2)
    assert (one.threads, two.threads) == (1, 2)  # a clone keeps its own count
    seed = np.arange(30) % 62
    for rows in (1, 5):  # 5: a block of 4 streams and one alone
        alone = generate(one, seed, 400, [0.8], count=rows, random_seed=7)
        together = generate(two, seed, 400, [0.8], count=rows, random_seed=7)
        assert np.array_equal(alone, together)
    one.reset(3)
    two.reset(3)
    ids = np.array([3, 9, 27], dtype=np.intp)
    one.advance(ids)
    two.advance(ids)
    assert np.array_equal(one.logits, two.logits)  # bit for bit


@two_threads
def test_set_threads_takes_effect_at_the_next_step_and_is_checked(weights):
    net = QuantizedLSTM(*weights, threads=2)
    advance = net.advance  # bound before the change: still follows it
    net.reset(2)
    net.set_threads(1)
    advance(np.array([1, 2], dtype=np.intp))
    assert net.threads == 1
    net.set_threads(None)
    assert net.threads == usable_cores()
    with pytest.raises(ValueError, match="threads must lie in 1.."):
        net.set_threads(0)
    with pytest.raises(ValueError, match="threads must lie in 1.."):
        net.set_threads(lowp._POOL + 1)
