"""The numpy fast path against Keras, its public stepping API, and the rule that nothing outside
numpy_lstm.py touches a NumpyLSTM's private attributes."""

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from shared.engine.inference.numpy_lstm import NumpyLSTM, Stepper, softmax
from tests.engine.tiny_models import TOL, VOCAB, as_numpy, reset, stateful

ROOT = Path(__file__).resolve().parents[3]


# --- against Keras -------------------------------------------------------------------------------


@pytest.mark.backends
def test_stateful_step_matches_keras_batch_1(model_1x1, net):
    ids = np.random.default_rng(3).integers(0, VOCAB, 40)
    reset(model_1x1)
    net.reset(1)
    for i in ids:
        keras_logits = as_numpy(model_1x1(np.array([[i]], dtype=np.int32), training=False))[0]
        ours = net.step(np.array([i]))
        np.testing.assert_allclose(softmax(ours), softmax(keras_logits), atol=TOL)
    assert net.stateful and net.units == (16, 16) and net.vocab_size == VOCAB


@pytest.mark.backends
def test_stateful_sequences_match_keras_batch_2(model_1x1):
    model = stateful(2, 7, weights_from=model_1x1)
    net = NumpyLSTM.from_model(model)
    assert net.seq_len == 7
    x = np.random.default_rng(4).integers(0, VOCAB, (3, 2, 7)).astype(np.int32)
    reset(model)
    net.reset(2)
    for batch in x:  # state carried across the three calls
        keras_logits = as_numpy(model(batch, training=False))
        ours = net.sequence_logits(batch)
        assert ours.shape == (2, 7, VOCAB)
        np.testing.assert_allclose(softmax(ours), softmax(keras_logits), atol=TOL)
    # warmup returns the last step's logits and leaves the same state as sequence_logits
    net.reset(2)
    last = net.warmup(np.concatenate(list(x), axis=1))
    np.testing.assert_allclose(softmax(last), softmax(keras_logits[:, -1]), atol=TOL)


@pytest.mark.backends
def test_stateless_windows_match_keras(stateless_model):
    net = NumpyLSTM.from_model(stateless_model)
    assert not net.stateful and net.seq_len == 8
    windows = np.random.default_rng(5).integers(0, VOCAB, (6, 8)).astype(np.int32)
    keras_logits = as_numpy(stateless_model(windows, training=False))
    np.testing.assert_allclose(softmax(net.window_logits(windows)), softmax(keras_logits), atol=TOL)
    # cross entropy: every target predicted from the 8 before it, in batches
    ids = np.random.default_rng(6).integers(0, VOCAB, 30)
    targets = np.arange(8, 30)
    logits = as_numpy(stateless_model(np.stack([ids[t - 8 : t] for t in targets]), training=False))
    expected = -np.log(softmax(logits)[np.arange(len(targets)), ids[targets]]).mean()
    assert net.cross_entropy(ids, window=8, batch=5) == pytest.approx(expected, abs=TOL)


def test_stateful_cross_entropy_matches_keras(model_1x1, net):
    ids = np.random.default_rng(7).integers(0, VOCAB, 25)
    reset(model_1x1)
    logits = np.concatenate([as_numpy(model_1x1(np.array([[i]], dtype=np.int32), training=False))[0] for i in ids[:-1]])
    expected = -np.log(softmax(logits)[np.arange(24), ids[1:]]).mean()
    assert net.cross_entropy(ids) == pytest.approx(expected, abs=TOL)


def test_softmax_and_temperature():
    np.testing.assert_allclose(softmax(np.log([[0.1, 0.2, 0.7]]), 1.0), [[0.1, 0.2, 0.7]], atol=1e-12)
    logits = np.log([0.1, 0.2, 0.7])  # the paper's Figure 3
    cold, hot = softmax(logits, 0.5), softmax(logits, 2.0)
    assert cold[2] > 0.7 > hot[2] and hot[0] > 0.1 > cold[0]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            softmax([1.0, 2.0], bad)


# --- the public stepping API -----------------------------------------------------------------------


def test_advance_updates_logits_hidden_and_cell_in_place(net):
    twin = net.clone()
    twin.reset(3)
    ids = np.array([1, 4, 9], dtype=np.intp)
    advance, logits, h1, c0 = twin.advance, twin.logits, twin.hidden(1), twin.cell(0)
    assert logits.shape == (VOCAB, 3) and h1.shape == (3, 16) and c0.shape == (3, 16)
    for view in (logits, h1, c0):
        assert not view.flags.writeable
    reference = net.clone()
    reference.reset(3)
    for _ in range(4):
        advance(ids)
        expected = reference.step(ids)
        np.testing.assert_array_equal(logits.T, expected)  # the live views follow every step
        (h_0, c_0), (h_1, c_1) = reference.state
        np.testing.assert_array_equal(h1, h_1)
        np.testing.assert_array_equal(c0, c_0)
    before = logits.copy()
    advance(ids, False)  # no output product: the logits stay those of the step before
    np.testing.assert_array_equal(logits, before)
    assert not np.array_equal(twin.hidden(1), h_1)


def test_state_get_set_and_broadcast_row(net):
    twin = net.clone()
    twin.reset(2)
    twin.warmup(np.array([[1, 2, 3], [4, 5, 6]]))
    state = twin.state
    assert [(h.shape, c.shape) for h, c in state] == [((2, 16), (2, 16))] * 2
    state[0][0][:] = 0.0  # a copy: the net keeps its own
    assert np.abs(twin.hidden(0)).sum() > 0
    other = net.clone()
    other.reset(2)
    other.state = twin.state
    np.testing.assert_array_equal(other.step([7, 7]), twin.step([7, 7]))
    row1 = [(h[1].copy(), c[1].copy()) for h, c in twin.state]
    twin.broadcast_row(1, 4)
    assert twin.rows == 4
    for (h, c), (h_row, c_row) in zip(twin.state, row1, strict=True):
        np.testing.assert_array_equal(h, np.broadcast_to(h_row, (4, 16)))
        np.testing.assert_array_equal(c, np.broadcast_to(c_row, (4, 16)))
    with pytest.raises(ValueError, match="2 layers"):
        twin.state = twin.state[:1]


def test_reset_keeps_or_changes_the_rows(net):
    twin = net.clone()
    twin.reset(3)
    twin.step([1, 2, 3])
    advance = twin.advance
    twin.reset()  # same rows: zero state, the same buffers
    assert twin.rows == 3 and twin.advance is advance
    assert all(np.abs(h).sum() == 0 and np.abs(c).sum() == 0 for h, c in twin.state)
    twin.reset(5)
    assert twin.rows == 5 and twin.advance is not advance and twin.logits.shape == (VOCAB, 5)
    with pytest.raises(ValueError):
        twin.reset(0)


def test_check_ids(net):
    assert net.check_ids(3).tolist() == [3] and net.check_ids([0, VOCAB - 1]).dtype == np.intp
    assert net.check_ids([]).size == 0
    for bad in ([VOCAB], [-1], [1.5]):
        with pytest.raises(ValueError):
            net.check_ids(bad)


def test_matrices_are_the_read_only_fused_weights(net):
    u0t, w1t, wdt = net.matrices
    assert u0t.shape == (64, 16) and w1t.shape == (64, 16 + 1 + 16) and wdt.shape == (VOCAB, 16 + 1)
    for matrix in net.matrices:
        assert matrix.dtype == np.float32 and not matrix.flags.writeable
        with pytest.raises(ValueError):
            matrix[0, 0] = 1.0


def test_clone_shares_the_weights_and_copies_the_state(net):
    original = net.clone()
    original.reset(2)
    original.warmup([1, 2, 3])
    twin = original.clone()
    assert all(a is b for a, b in zip(twin.matrices, original.matrices, strict=True))
    assert twin.rows == 2
    np.testing.assert_array_equal(twin.step([4, 5]), original.step([4, 5]))
    twin.step([6, 6])  # stepping one leaves the other alone
    assert not np.array_equal(twin.hidden(1), original.hidden(1))


def test_clones_run_in_threads_like_one_after_the_other(net):
    ids = np.random.default_rng(11).integers(0, VOCAB, (4, 300))
    expected = []
    for row in ids:
        alone = net.clone()
        alone.reset(1)
        expected.append(alone.sequence_logits(row))
    results = [None] * len(ids)

    def run(k):
        mine = net.clone()
        mine.reset(1)
        results[k] = mine.sequence_logits(ids[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


# --- nobody else reaches inside --------------------------------------------------------------------

# a name that holds a NumpyLSTM (net, self.net, sampler.net, template, lstm, ...) followed by "._x"
_PRIVATE_ACCESS = re.compile(r"\b(?:\w*net|\w*lstm|template|twin|clone)\._[a-z]\w*", re.IGNORECASE)


def _private_names() -> set[str]:
    net = NumpyLSTM([(np.zeros((2, 4)), np.zeros((1, 4)), np.zeros(4))], (np.zeros((1, 2)), np.zeros(2)))
    names = set(vars(net)) | set(vars(NumpyLSTM))
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


# what numpy_lstm.Stepper hands a subclass (lowp.QuantizedLSTM): the buffers its kernel steps
_STEPPER_CONTRACT = {"_state", "_logits", "_rows", "_start", "_allocate_buffers", "_make_advance"}


def test_no_module_but_numpy_lstm_touches_its_private_attributes():
    private = _private_names()
    assert {"_advance", "_state", "_cells", "_logits", "_wt", "_u0t", "_wdt"} <= private
    assert private | set(vars(Stepper)) >= _STEPPER_CONTRACT
    by_name = re.compile(r"\.(" + "|".join(sorted(private)) + r")\b")
    subclass_names = re.compile(r"\.(" + "|".join(sorted(private - _STEPPER_CONTRACT)) + r")\b")
    offences = []
    for folder in ("shared", "services", "workers", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "numpy_lstm.py":
                continue
            text = path.read_text(encoding="utf-8")
            names = subclass_names if "(Stepper):" in text else by_name
            for number, line in enumerate(text.splitlines(), start=1):
                if _PRIVATE_ACCESS.search(line) or names.search(line):
                    offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offences == []
