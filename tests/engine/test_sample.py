"""The numpy fast path against Keras, and the sampler's contract (shapes, seeds, temperature)."""

import re
from types import SimpleNamespace

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.model import build_model, lstm_layers
from shared.engine.numpy_lstm import NumpyLSTM, softmax
from shared.engine.sample import chunk_length, generate, predict_loop_generate, sample_texts

VOCAB = 11
TOL = 1e-4


def randomise(model, seed):
    """Random nonzero weights everywhere, biases included (large enough to saturate some gates)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.6, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def stateful(batch_size, seq_len, weights_from=None):
    hp = Hyperparameters(mode="stateful", layers=2, units=16, seq_len=max(seq_len, 2), batch_size=batch_size)
    model = build_model(hp, VOCAB)
    if seq_len == 1:  # Hyperparameters needs seq_len >= 2: rebuild the same stack with (1, 1)
        import keras

        from shared.engine.model import OneHot

        inputs = keras.Input(batch_shape=(batch_size, 1), dtype="int32")
        x = OneHot(VOCAB)(inputs)
        for _ in range(2):
            x = keras.layers.LSTM(16, return_sequences=True, stateful=True)(x)
        model = keras.Model(inputs, keras.layers.Dense(VOCAB)(x))
    if weights_from is None:
        randomise(model, 1)
    else:
        model.set_weights(weights_from.get_weights())
    return model


def reset(model):
    for layer in lstm_layers(model):
        layer.reset_states()


@pytest.fixture(scope="module")
def model_1x1():
    return stateful(1, 1)


@pytest.fixture(scope="module")
def stateless_model():
    hp = Hyperparameters(mode="stateless", layers=2, units=16, seq_len=8)
    return randomise(build_model(hp, VOCAB), 2)


@pytest.fixture(scope="module")
def net(model_1x1):
    return NumpyLSTM.from_model(model_1x1)


def test_stateful_step_matches_keras_batch_1(model_1x1, net):
    ids = np.random.default_rng(3).integers(0, VOCAB, 40)
    reset(model_1x1)
    net.reset(1)
    for i in ids:
        keras_logits = np.asarray(model_1x1(np.array([[i]], dtype=np.int32), training=False))[0]
        ours = net.step(np.array([i]))
        np.testing.assert_allclose(softmax(ours), softmax(keras_logits), atol=TOL)
    assert net.stateful and net.units == (16, 16) and net.vocab_size == VOCAB


def test_stateful_sequences_match_keras_batch_2(model_1x1):
    model = stateful(2, 7, weights_from=model_1x1)
    net = NumpyLSTM.from_model(model)
    assert net.seq_len == 7
    x = np.random.default_rng(4).integers(0, VOCAB, (3, 2, 7)).astype(np.int32)
    reset(model)
    net.reset(2)
    for batch in x:  # state carried across the three calls
        keras_logits = np.asarray(model(batch, training=False))
        ours = net.sequence_logits(batch)
        assert ours.shape == (2, 7, VOCAB)
        np.testing.assert_allclose(softmax(ours), softmax(keras_logits), atol=TOL)
    # warmup returns the last step's logits and leaves the same state as sequence_logits
    net.reset(2)
    last = net.warmup(np.concatenate(list(x), axis=1))
    np.testing.assert_allclose(softmax(last), softmax(keras_logits[:, -1]), atol=TOL)


def test_stateless_windows_match_keras(stateless_model):
    net = NumpyLSTM.from_model(stateless_model)
    assert not net.stateful and net.seq_len == 8
    windows = np.random.default_rng(5).integers(0, VOCAB, (6, 8)).astype(np.int32)
    keras_logits = np.asarray(stateless_model(windows, training=False))
    np.testing.assert_allclose(softmax(net.window_logits(windows)), softmax(keras_logits), atol=TOL)
    # cross entropy: every target predicted from the 8 before it, in batches
    ids = np.random.default_rng(6).integers(0, VOCAB, 30)
    targets = np.arange(8, 30)
    logits = np.asarray(stateless_model(np.stack([ids[t - 8:t] for t in targets]), training=False))
    expected = -np.log(softmax(logits)[np.arange(len(targets)), ids[targets]]).mean()
    assert net.cross_entropy(ids, window=8, batch=5) == pytest.approx(expected, abs=TOL)


def test_stateful_cross_entropy_matches_keras(model_1x1, net):
    ids = np.random.default_rng(7).integers(0, VOCAB, 25)
    reset(model_1x1)
    logits = np.concatenate([np.asarray(model_1x1(np.array([[i]], dtype=np.int32), training=False))[0]
                             for i in ids[:-1]])
    expected = -np.log(softmax(logits)[np.arange(24), ids[1:]]).mean()
    assert net.cross_entropy(ids) == pytest.approx(expected, abs=TOL)


def test_probabilities_and_temperature():
    p = NumpyLSTM.probabilities(np.log([[0.1, 0.2, 0.7]]), 1.0)
    np.testing.assert_allclose(p, [[0.1, 0.2, 0.7]], atol=1e-12)
    logits = np.log([0.1, 0.2, 0.7])  # the paper's Figure 3
    cold, hot = NumpyLSTM.probabilities(logits, 0.5), NumpyLSTM.probabilities(logits, 2.0)
    assert cold[2] > 0.7 > hot[2] and hot[0] > 0.1 > cold[0]


def test_reproducible_and_prefix_stable(net):
    seed = np.array([1, 2, 3, 4, 5])
    a = generate(net, seed, 3000, [0.75, 1.5], count=2, random_seed=42)
    b = generate(net, seed, 3000, [0.75, 1.5], count=2, random_seed=42)
    c = generate(net, seed, 3000, [0.75, 1.5], count=2, random_seed=43)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    np.testing.assert_array_equal(generate(net, seed, 100, [0.75, 1.5], count=2, random_seed=42), a[:, :100])
    assert len({row.tobytes() for row in a}) == 4  # rows are independent streams


def test_shape_length_dtype_and_progress(net):
    calls = []
    out = generate(net, [3], 5000, [0.5, 1.0, 2.0], count=4, random_seed=0,
                   progress=lambda done, total: calls.append((done, total)))
    assert out.shape == (12, 5000) and out.dtype == np.uint8
    assert out.max() < VOCAB
    chunk = chunk_length(12, VOCAB)
    assert calls == [(min(n, 5000), 5000) for n in range(chunk, 5000 + chunk, chunk)]
    assert generate(net, [3], 1, 1.0).shape == (1, 1)
    assert generate(net, [3], 0, 1.0).shape == (1, 0)


def test_should_stop_returns_what_was_generated(net):
    asked = []
    out = generate(net, [1, 2], 10_000, 1.0, random_seed=0, should_stop=lambda: len(asked.append(1) or asked) > 2)
    assert out.shape == (1, 2 * chunk_length(1, VOCAB))


def test_low_temperature_is_greedy_and_high_temperature_spreads(net):
    seed = np.array([0, 5, 9])
    cold = generate(net, seed, 60, 0.01, count=3, random_seed=1)
    net.reset(1)
    logits = net.warmup(seed)
    greedy = []
    for _ in range(60):
        greedy.append(int(np.argmax(logits)))
        logits = net.step(np.array([greedy[-1]]))
    assert (cold == np.array(greedy)).mean() > 0.95
    hot = generate(net, seed, 60, 2.0, count=3, random_seed=1)
    assert len(np.unique(hot)) > len(np.unique(cold))


def test_sampler_follows_the_tempered_distribution(net):
    """First sampled character of 4000 rows vs softmax(logits / T) (Gumbel-max is exact)."""
    seed = np.array([4, 7, 1])
    net.reset(1)
    probs = softmax(net.warmup(seed)[0], 0.8)
    first = generate(net, seed, 1, 0.8, count=4000, random_seed=9)[:, 0]
    freq = np.bincount(first, minlength=VOCAB) / 4000
    assert np.abs(freq - probs).max() < 4 * np.sqrt(probs.max() / 4000)


def test_invalid_arguments_raise(net):
    for bad in (0, -1.0, float("nan"), float("inf"), [1.0, 0.0], []):
        with pytest.raises(ValueError):
            generate(net, [1], 10, bad)
    with pytest.raises(ValueError):
        generate(net, [], 10, 1.0)
    with pytest.raises(ValueError):
        generate(net, [VOCAB], 10, 1.0)
    with pytest.raises(ValueError):
        generate(net, [1], 10, 1.0, count=0)
    with pytest.raises(ValueError):
        NumpyLSTM.probabilities([1.0, 2.0], 0.0)


def test_stateless_generation_uses_windows(stateless_model):
    net = NumpyLSTM.from_model(stateless_model)
    seed = np.random.default_rng(8).integers(0, VOCAB, 12)
    out = generate(net, seed, 30, 0.01, count=2, random_seed=3)
    assert out.shape == (2, 30)
    text = list(seed)
    for _ in range(30):  # greedy continuation, each prediction from its 8-character window
        logits = np.asarray(stateless_model(np.array([text[-8:]], dtype=np.int32), training=False))[0]
        text.append(int(np.argmax(logits)))
    assert (out == np.array(text[12:])).mean() > 0.95


def test_chunks_continue_exactly(net, stateless_model):
    """Teacher-forced check of the per-chunk loops with our own noise, over two chunks: each id
    is argmax(logits + noise) where the logits are those of the sequence so far (stateful: state
    carried; stateless: the window of the 8 ids before it, seed included, shorter at first)."""
    from shared.engine.sample import _stateful_chunk, _stateless_chunk

    rng = np.random.default_rng(10)
    noise = [rng.normal(0, 2, (n, VOCAB, 1)).astype(np.float32) for n in (20, 15)]
    seed = np.array([3, 1, 4])

    net.reset(1)
    net.warmup(seed)
    advance, got = _stateful_chunk(net), []
    for n, part in enumerate(noise):
        got.append(np.empty((len(part), 1), dtype=np.intp))
        advance(part, got[-1], n == 1)
    out = np.concatenate(got)[:, 0]
    net.reset(1)
    logits = net.sequence_logits(np.concatenate([seed, out[:-1]]))[0, len(seed) - 1:]
    np.testing.assert_array_equal(out, (logits + np.concatenate(noise)[:, :, 0]).argmax(axis=1))

    windowed = NumpyLSTM.from_model(stateless_model)
    advance, got = _stateless_chunk(windowed, seed, 1, 20), []
    for n, part in enumerate(noise):
        got.append(np.empty((len(part), 1), dtype=np.intp))
        advance(part, got[-1], n == 1)
    out = np.concatenate(got)[:, 0]
    text = np.concatenate([seed, out])
    for k, p in enumerate(range(len(seed), len(text))):
        expected = (windowed.window_logits(text[max(0, p - 8):p]) + np.concatenate(noise)[k, :, 0]).argmax()
        assert out[k] == expected, k


def test_predict_loop_reference_agrees_when_greedy(model_1x1, net, stateless_model):
    seed = np.array([2, 3, 5, 7])
    fast = generate(net, seed, 12, 0.001, random_seed=0)[0]
    slow = predict_loop_generate(model_1x1, seed, 12, 0.001, random_seed=0)
    np.testing.assert_array_equal(fast, slow)
    seed = np.arange(9) % VOCAB
    fast = generate(NumpyLSTM.from_model(stateless_model), seed, 6, 0.001, random_seed=0)[0]
    np.testing.assert_array_equal(fast, predict_loop_generate(stateless_model, seed, 6, 0.001, random_seed=0))


def test_sample_texts_decodes_and_undoes_tabs(model_1x1):
    from shared.engine.corpus import Vocabulary

    vocab = Vocabulary("\t\nabcdefgh ")
    assert len(vocab) == VOCAB
    hp = Hyperparameters(layers=2, units=16, tabs=True)
    checkpoint = SimpleNamespace(model=model_1x1, hp=hp, vocab=vocab, warmup_text="abc\n\tdef")
    texts = sample_texts(checkpoint, 400, [0.5, 1.5], count=2, random_seed=1)
    # the first line continues the seed's last line (mid-line tabs are kept); no later line
    # starts with a tab any more
    assert len(texts) == 4 and not any(re.match(r"[ ]*\t", line) for t in texts for line in t.split("\n")[1:])
    assert any("\n    " in t for t in texts)  # leading tabs became spaces
    assert all(set(t) <= set(vocab.chars) for t in texts)
    again = sample_texts(checkpoint, 400, [0.5, 1.5], count=2, random_seed=1, seed_text="    Abc\u00e9 d")
    assert len(again) == 4
    with pytest.raises(ValueError):
        sample_texts(checkpoint, 10, [1.0], seed_text="XYZ")
