"""Reduced-precision sampling (shared/engine/inference/lowp.py): the int8 net against the float32 reference."""

import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import Vocabulary
from shared.engine.inference import lowp
from shared.engine.inference.lowp import VNNI, QuantizedLSTM, _tanh
from shared.engine.inference.numpy_lstm import NumpyLSTM
from shared.engine.inference.sample import PRECISIONS, Sampler, generate, sample_texts
from tests.numerics import assert_close

VOCAB = 62  # not a multiple of 4: the output rows end with a remainder after the 4-row blocks


def realistic(units=(256, 256), vocab=VOCAB, seed=0):
    """Keras-format weights with a trained model's scales: Glorot-uniform kernels, orthogonal
    recurrent kernels, forget-gate bias 1, other biases small, and output weights large enough
    that the next character is fairly certain (about 1 to 2 bits per character)."""
    rng = np.random.default_rng(seed)
    lstm, width = [], vocab
    for u in units:
        limit = np.sqrt(6.0 / (width + 4 * u))
        kernel = rng.uniform(-limit, limit, (width, 4 * u))
        recurrent = np.linalg.qr(rng.normal(size=(4 * u, u)))[0].T  # (u, 4u), orthonormal rows
        bias = rng.normal(0.0, 0.1, 4 * u)
        bias[u : 2 * u] += 1.0
        lstm.append((kernel * 1.5, recurrent * 1.5, bias))
        width = u
    dense = (rng.normal(0.0, 16.0 / np.sqrt(width), (width, vocab)), rng.normal(0.0, 1.5, vocab))
    return lstm, dense


@pytest.fixture(scope="module")
def weights():
    return realistic()


@pytest.fixture(scope="module")
def net(weights):
    return NumpyLSTM(*weights)


@pytest.fixture(scope="module")
def int8(weights):
    return QuantizedLSTM(*weights)


def _sigmoid_half(z):  # the fused layout's sigmoid gates are pre-scaled by 0.5
    return 0.5 + 0.5 * np.tanh(z)


def quantized(x):
    """Each row of x as the kernel quantizes a product's input, dequantized (float64): scale
    s = max|x| / 127, x -> round(x / s) (half up) * s, in float32 steps as the kernel takes them."""
    x = np.asarray(x, dtype=np.float32)
    top = np.abs(x).max(axis=1)
    s = np.where(top > 0, top / np.float32(127), np.float32(1)).astype(np.float32)
    inv = np.float32(1) / s
    q = (x * inv[:, None] + np.float32(128.5)).astype(np.int32) - 128
    assert np.abs(q).max() <= 127
    return q * s.astype(np.float64)[:, None]


def reference_step(reduced, before, after, ids):
    """One step in float64 numpy on the int8 net's own dequantized matrices (`matrices`), its input
    table and its quantized inputs: what the kernel must compute. before: per layer (h, c), each
    (rows, u), the state the step starts from; after: the kernel's state after it, whose h of the
    layer below is the input of the next layer (so that both quantize the same floats)."""
    mats, units = reduced.matrices, reduced.units
    new: list = []
    for n, ((h, c), u) in enumerate(zip(before, units, strict=True)):
        if n == 0:
            z = quantized(h) @ mats[0].T.astype(np.float64) + reduced.input_table[ids]
        else:
            x = quantized(np.concatenate([after[n - 1][0], h], axis=1))
            w = mats[n].astype(np.float64)
            b = units[n - 1]  # the bias column
            z = x @ np.delete(w, b, axis=1).T + w[:, b]
        g, f, i, o = np.tanh(z[:, :u]), *(_sigmoid_half(z[:, k * u : (k + 1) * u]) for k in (1, 2, 3))
        c = f * c + i * g
        new.append((o * np.tanh(c), c))
    wd = mats[-1].astype(np.float64)
    logits = quantized(after[-1][0]) @ wd[:, :-1].T + wd[:, -1]
    return new, logits


def test_the_kernel_computes_the_dequantized_net(int8):
    """Several rows (streams in blocks of 4 and alone), steps with and without logits, state and
    clones: each step equal to float64 numpy on the dequantized weights and inputs (what is left
    is float32 rounding and the tanh approximation)."""
    rng = np.random.default_rng(3)
    for rows in (1, 3, 6):
        mine = int8.clone()
        mine.reset(rows)
        for t in range(12):
            ids = np.ascontiguousarray(rng.integers(0, VOCAB, rows), dtype=np.intp)
            with_logits = t % 3 != 1
            before = mine.state
            mine.advance(ids, with_logits)
            after = mine.state
            state, logits = reference_step(int8, before, after, ids)
            if with_logits:
                np.testing.assert_allclose(mine.logits, logits.T, atol=2e-4, rtol=0)
            for (h1, c1), (h2, c2) in zip(after, state, strict=True):
                np.testing.assert_allclose(h1, h2, atol=2e-5)
                assert_close(c1, c2, rel=5e-5)
        twin = mine.clone()  # its own state: stepping it leaves the original alone
        before = mine.state
        twin.advance(np.zeros(rows, dtype=np.intp))
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(before, mine.state, strict=True))
        assert not np.array_equal(twin.hidden(0), mine.hidden(0))
    own = mine.state
    mine.broadcast_row(2, 4)  # every stream from row 2's state
    assert mine.rows == 4 and np.array_equal(mine.hidden(1), np.repeat(own[1][0][2:3], 4, axis=0))


_VNNI1, _VNNI4 = lowp._vnni_dot(1), lowp._vnni_dot(4)


@numba.njit
def vnni_dot1(q, qo, n, x, xo, xs):
    return _VNNI1(q, qo, n, x, xo, xs)


@numba.njit
def vnni_dot4(q, qo, n, x, xo, xs):
    return _VNNI4(q, qo, n, x, xo, xs)


@pytest.mark.skipif(not VNNI, reason="this CPU has no AVX-512 VNNI")
def test_the_vnni_products_equal_the_plain_loop():
    """vpdpbusd's int32 sums of uint8 x int8, 4 weight rows against 1 or 4 streams, equal the
    portable loop's (integer sums: exactly), at the extremes of both ranges too."""
    rng = np.random.default_rng(8)
    n, streams = 3 * 64, 4
    q = rng.integers(-127, 128, 4 * n + 64, dtype=np.int8)
    q[:n] = 127  # the largest sums one row can reach
    x = rng.integers(0, 256, (streams, n + 64), dtype=np.uint8)
    x[0, :n] = 255
    x = x.reshape(-1)
    assert vnni_dot4(q, 64, n, x, 0, n + 64) == lowp._loop_dot4(q, 64, n, x, 0, n + 64)
    assert vnni_dot1(q, 0, n, x, 0, n + 64) == lowp._loop_dot1(q, 0, n, x, 0, n + 64)
    assert vnni_dot1(q, 0, n, x, 0, n + 64)[0] == 127 * 255 * n


def test_the_portable_kernel_computes_what_the_vnni_kernel_does(tmp_path, weights, int8):
    """numba compiling for a generic x86-64 (no VNNI: the plain integer loop) steps the same net to
    the same logits: the sums are exact integers either way (the rest, float32, within 1e-5)."""
    np.savez(tmp_path / "w.npz", *[a for layer in weights[0] for a in layer], *weights[1])
    script = """
import sys, numpy as np
from shared.engine.inference.lowp import VNNI, QuantizedLSTM
a = list(np.load(sys.argv[1]).values())
net = QuantizedLSTM([tuple(a[i : i + 3]) for i in range(0, len(a) - 2, 3)], tuple(a[-2:]))
net.reset(5)
for t in range(20):
    net.advance(np.arange(5, dtype=np.intp) * 7 + t)
np.save(sys.argv[2], net.logits)
print(VNNI)
"""
    env = {**os.environ, "NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "w.npz"), str(tmp_path / "logits.npy")],
        env=env, capture_output=True, text=True, timeout=300, check=True, cwd=Path(__file__).parents[3],
    )  # fmt: skip
    assert done.stdout.strip() == "False"  # the plain loop ran
    mine = int8.clone()
    mine.reset(5)
    for t in range(20):
        mine.advance(np.arange(5, dtype=np.intp) * 7 + t)
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), mine.logits, atol=1e-5, rtol=0)


def test_the_input_table_is_the_float32_nets(net, int8):
    """Layer 0's input rows stay float32 and equal NumpyLSTM's: one step from zero state with
    h = 0 sees only the table, so both nets agree there up to the int8 output layer."""
    exact, mine = net.clone(), int8.clone()
    exact.reset(VOCAB)
    mine.reset(VOCAB)
    ids = np.arange(VOCAB, dtype=np.intp)
    exact.advance(ids)
    mine.advance(ids)
    np.testing.assert_allclose(mine.hidden(0), exact.hidden(0), atol=1e-5)
    assert_close(mine.cell(0), exact.cell(0), rel=1e-5)


def test_the_weights_are_int8_with_per_row_scales(net, int8):
    assert int8.weight_bytes < 0.3 * sum(w.nbytes for w in net.matrices)
    assert int8._qw.dtype == np.int8 and int8._qw.size < 1.1 * sum(w.size for w in net.matrices)  # padded
    for exact, approx in zip(net.matrices, int8.matrices, strict=True):
        step = np.abs(exact).max(axis=1, keepdims=True) / 127  # the rounding error is half a step
        assert np.all(np.abs(exact - approx) <= 0.5 * step + 1e-7)
        assert not np.array_equal(exact, approx)  # really rounded


def test_quality_guard_over_teacher_forced_text(net, int8):
    """Over 10,000 teacher-forced characters (a text the float32 net wrote): the int8 net's next-
    character distributions are within 0.01 nats (mean KL) of float32's and its bits per character
    within 1%."""
    text = generate(net.clone(), [0, 1, 2], 10_000, 1.0, random_seed=5)[0]
    exact = net.clone()
    exact.reset(1)
    reduced = int8.clone()
    reduced.reset(1)
    p_logits = exact.sequence_logits(text)[0].astype(np.float64)
    q_logits = reduced.sequence_logits(text)[0].astype(np.float64)
    log_p = p_logits - np.logaddexp.reduce(p_logits, axis=1, keepdims=True)
    log_q = q_logits - np.logaddexp.reduce(q_logits, axis=1, keepdims=True)
    kl = float((np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean())
    targets = text[1:]
    bits_p = -log_p[np.arange(len(targets)), targets].mean() / np.log(2)
    bits_q = -log_q[np.arange(len(targets)), targets].mean() / np.log(2)
    assert 0.5 < bits_p < 3.0  # a confident model, as a trained one is
    assert 0.0 < kl < 0.01
    assert abs(bits_q - bits_p) < 0.01 * bits_p


def test_generate_runs_the_int8_net_unchanged(net, int8):
    seed = [1, 2, 3, 4]
    ids = generate(int8.clone(), seed, 300, [0.5, 1.0], count=2, random_seed=7)
    again = generate(int8.clone(), seed, 120, [0.5, 1.0], count=2, random_seed=7)
    assert ids.shape == (4, 300) and np.array_equal(again, ids[:, :120])  # reproducible, prefix
    greedy_int8 = generate(int8.clone(), seed, 40, 0.0)[0]
    greedy_f32 = generate(net.clone(), seed, 40, 0.0)[0]
    assert np.mean(greedy_int8 == greedy_f32) > 0.8  # the same likeliest characters, nearly always


class Unfused(QuantizedLSTM):
    """The int8 kernel stepped by generate's Python loop (no compiled sampling loop)."""

    sample_chunk = None


def test_the_compiled_sampling_loop_draws_what_the_python_loop_draws(int8):
    unfused = Unfused(*realistic())
    for temperatures, count, length in (([0.8], 1, 2_100), ([0.0, 0.5, 1.0], 2, 300)):  # 2,100: 2 chunks
        fused_ids = generate(int8.clone(), [5, 6], length, temperatures, count=count, random_seed=11)
        loop_ids = generate(unfused.clone(), [5, 6], length, temperatures, count=count, random_seed=11)
        assert np.array_equal(fused_ids, loop_ids)
    # top-k / top-p restrict in Python: the loop path, on the same int8 kernel
    restricted = generate(int8.clone(), [5, 6], 200, 1.0, random_seed=2, top_k=3)
    assert restricted.shape == (1, 200)


def test_stateless_nets_reduce_too():
    lstm, dense = realistic(units=(32,), seed=4)
    exact = NumpyLSTM(lstm, dense, stateful=False, seq_len=6)
    reduced = QuantizedLSTM(lstm, dense, stateful=False, seq_len=6)
    assert not reduced.stateful and reduced.seq_len == 6
    windows = np.random.default_rng(0).integers(0, VOCAB, (5, 6))
    np.testing.assert_allclose(reduced.window_logits(windows), exact.window_logits(windows), atol=0.05)
    ids = generate(reduced.clone(), [1, 2, 3], 20, 0.0)  # the stateless path of generate
    assert np.array_equal(ids, generate(reduced.clone(), [1, 2, 3], 20, 0.0)) and ids.shape == (1, 20)


def test_sampler_hands_out_the_reduced_net():
    lstm, dense = realistic(units=(16,), vocab=10, seed=2)
    exact, reduced = NumpyLSTM(lstm, dense), QuantizedLSTM(lstm, dense)
    hp = Hyperparameters(layers=1, units=16)
    sampler = Sampler(
        net=exact, vocabulary=Vocabulary("abcdefgh \n"), hyperparameters=hp, warmup_text="abc", epoch=1,
        reduced={"int8": reduced},
    )  # fmt: skip
    assert sampler.net_for("float32") is exact and sampler.net_for() is exact and sampler.net_for("int8") is reduced
    texts = sample_texts(sampler, 200, [0.5, 1.0], random_seed=3, precision="int8")
    assert [len(t) for t in texts] == [200, 200] and set("".join(texts)) <= set("abcdefgh \n")
    assert sample_texts(sampler, 200, [0.5, 1.0], random_seed=3, precision="int8") == texts
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        sample_texts(sampler, 10, 1.0, precision="int4")
    plain = Sampler(net=exact, vocabulary=sampler.vocabulary, hyperparameters=hp, warmup_text="abc", epoch=1)
    with pytest.raises(ValueError, match="has no int8 net: load it with precisions"):
        plain.net_for("int8")


def test_precisions_and_errors(weights):
    assert PRECISIONS == ("float32", "int8")
    with pytest.raises(ValueError, match="threads must lie in 1.."):
        QuantizedLSTM(*weights, threads=0)
    with pytest.raises(ValueError, match="LSTM layer 0: unexpected weight shapes"):
        QuantizedLSTM([(np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(7))], (np.zeros((2, 3)), np.zeros(3)))


def test_tanh_approximation_is_float32_accurate():
    x = np.linspace(-12, 12, 200_001, dtype=np.float32)
    approx = np.array([_tanh(v) for v in x[::97]], dtype=np.float32)
    np.testing.assert_allclose(approx, np.tanh(x[::97]), atol=3e-7, rtol=0)
