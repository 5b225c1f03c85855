"""The sampler's contract: generation (shapes, seeds, temperature, chunks, stateless windows), the
seed rule and the shareable Sampler."""

import re
import threading

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import CorpusError, Vocabulary
from shared.engine.inference.numpy_lstm import NumpyLSTM, softmax
from shared.engine.inference.sample import (
    Sampler,
    chunk_length,
    encode_seed,
    generate,
    load_sampler,
    predict_loop_generate,
    sample_texts,
)
from shared.engine.training import checkpoint as ckpt
from shared.engine.training.model import build_model
from tests.engine.tiny_models import VOCAB, as_numpy

TAB_VOCAB = Vocabulary("\t\nabcdefgh ")


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
    out = generate(
        net,
        [3],
        5000,
        [0.5, 1.0, 2.0],
        count=4,
        random_seed=0,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert out.shape == (12, 5000) and out.dtype == np.uint8
    assert out.max() < VOCAB
    chunk = chunk_length(12, VOCAB)
    assert calls == [(min(n, 5000), 5000) for n in range(chunk, 5000 + chunk, chunk)]
    assert generate(net, [3], 1, 1.0).shape == (1, 1)
    assert generate(net, [3], 0, 1.0).shape == (1, 0)


def test_should_stop_returns_what_was_generated(net):
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 2

    out = generate(net, [1, 2], 10_000, 1.0, random_seed=0, should_stop=should_stop)
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
    for bad in (-1.0, float("nan"), float("inf"), [1.0, -0.5], []):  # 0 is greedy, not invalid
        with pytest.raises(ValueError):
            generate(net, [1], 10, bad)
    with pytest.raises(ValueError):
        generate(net, [], 10, 1.0)
    with pytest.raises(ValueError):
        generate(net, [VOCAB], 10, 1.0)
    with pytest.raises(ValueError):
        generate(net, [1], 10, 1.0, count=0)


def test_stateless_generation_uses_windows(stateless_model):
    net = NumpyLSTM.from_model(stateless_model)
    seed = np.random.default_rng(8).integers(0, VOCAB, 12)
    out = generate(net, seed, 30, 0.01, count=2, random_seed=3)
    assert out.shape == (2, 30)
    text = list(seed)
    for _ in range(30):  # greedy continuation, each prediction from its 8-character window
        logits = as_numpy(stateless_model(np.array([text[-8:]], dtype=np.int32), training=False))[0]
        text.append(int(np.argmax(logits)))
    assert (out == np.array(text[12:])).mean() > 0.95


def test_chunks_continue_exactly(net, stateless_model):
    """Teacher-forced check of the per-chunk loops with the noise each row draws, over chunks:
    each id is argmax(logits + noise) where the logits are those of the sequence so far
    (stateful: state carried, the batch's chunks of 20; stateless: the window of the 8 ids before
    it, seed included, shorter at first; our own noise)."""
    from shared.engine.inference.sample import _stateless_chunk
    from shared.engine.inference.streams import StreamBatch, StreamSpec, draw_noise

    seed = np.array([3, 1, 4])
    one = StreamSpec(seed, 35, 1.0, random_seed=10)
    batch = StreamBatch(net, chunk=20)
    batch.join(one)
    out = np.concatenate([ids for _ in range(2) for _, ids in batch.step()])
    drawn = np.empty((35, VOCAB, 1), dtype=np.float32)
    draw_noise([np.random.default_rng(one.random_seed)], np.array([1.0]), drawn)
    net.reset(1)
    logits = net.sequence_logits(np.concatenate([seed, out[:-1]]))[0, len(seed) - 1 :]
    np.testing.assert_array_equal(out, (logits + drawn[:, :, 0]).argmax(axis=1))

    rng = np.random.default_rng(10)
    noise = [rng.normal(0, 2, (n, VOCAB, 1)).astype(np.float32) for n in (20, 15)]
    windowed = NumpyLSTM.from_model(stateless_model)
    advance, got = _stateless_chunk(windowed, seed, 1, 20), []
    for n, part in enumerate(noise):
        got.append(np.empty((len(part), 1), dtype=np.intp))
        advance(part, got[-1], n == 1)
    out = np.concatenate(got)[:, 0]
    text = np.concatenate([seed, out])
    for k, p in enumerate(range(len(seed), len(text))):
        expected = (windowed.window_logits(text[max(0, p - 8) : p]) + np.concatenate(noise)[k, :, 0]).argmax()
        assert out[k] == expected, k


@pytest.mark.backends
def test_predict_loop_reference_agrees_when_greedy(model_1x1, net, stateless_model):
    seed = np.array([2, 3, 5, 7])
    fast = generate(net, seed, 12, 0.001, random_seed=0)[0]
    slow = predict_loop_generate(model_1x1, seed, 12, 0.001, random_seed=0)
    np.testing.assert_array_equal(fast, slow)
    seed = np.arange(9) % VOCAB
    fast = generate(NumpyLSTM.from_model(stateless_model), seed, 6, 0.001, random_seed=0)[0]
    np.testing.assert_array_equal(fast, predict_loop_generate(stateless_model, seed, 6, 0.001, random_seed=0))


def tab_sampler(net, warmup_text="abc\n\tdef"):
    hp = Hyperparameters(layers=2, units=16, tabs=True)
    return Sampler(net=net, vocabulary=TAB_VOCAB, hyperparameters=hp, warmup_text=warmup_text, epoch=3)


def test_sample_texts_decodes_and_undoes_tabs(net):
    assert len(TAB_VOCAB) == VOCAB
    sampler = tab_sampler(net)
    texts = sample_texts(sampler, 400, [0.5, 1.5], count=2, random_seed=1)
    # the first line continues the seed's last line (mid-line tabs are kept); no later line
    # starts with a tab any more
    assert len(texts) == 4 and not any(re.match(r"[ ]*\t", line) for t in texts for line in t.split("\n")[1:])
    assert any("\n    " in t for t in texts)  # leading tabs became spaces
    assert all(set(t) <= set(TAB_VOCAB.chars) for t in texts)
    again = sample_texts(sampler, 400, [0.5, 1.5], count=2, random_seed=1, seed_text="    Abc\u00e9 d")
    assert len(again) == 4
    with pytest.raises(CorpusError, match="no character of the model's vocabulary"):
        sample_texts(sampler, 10, [1.0], seed_text="XYZ")
    with pytest.raises(CorpusError, match="warm-up"):
        sample_texts(tab_sampler(net, warmup_text=""), 10, [1.0])


def test_encode_seed_reads_the_seed_as_the_corpus_was_read():
    hp = Hyperparameters(lowercase=True, tabs=True)
    ids = encode_seed("    Café\r\nXYZ\u201ch", TAB_VOCAB, hp)
    # cleaned (é -> e, \r\n -> \n, curly quote -> '"'), lowercased, 4 spaces -> tab, unknown dropped
    assert TAB_VOCAB.decode(ids) == "\tcafe\nh"
    assert TAB_VOCAB.decode(encode_seed("    a", TAB_VOCAB, Hyperparameters())) == "    a"
    for seed in ("", "XYZ", "\x00\u200b"):
        with pytest.raises(CorpusError, match="the seed text has no character of the model's vocabulary"):
            encode_seed(seed, TAB_VOCAB, hp)


def test_sampler_is_shared_by_threads_without_interference(net):
    template = net.clone()
    template.reset(1)
    sampler = tab_sampler(template)
    expected = {seed: sample_texts(sampler, 3000, [0.8], random_seed=seed) for seed in range(4)}
    results = {}

    def run(seed):
        results[seed] = sample_texts(sampler, 3000, [0.8], random_seed=seed)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected
    assert len({texts[0] for texts in results.values()}) == 4
    assert sampler.net.rows == 1 and all(np.abs(h).sum() == 0 for h, _ in sampler.net.state)  # never stepped


@pytest.mark.backends
def test_load_sampler_from_a_checkpoint(tmp_path, model_1x1):
    hp = Hyperparameters(layers=2, units=16, seq_len=5, batch_size=2)
    model = build_model(hp, VOCAB)
    model.set_weights(model_1x1.get_weights())  # same layers, other batch shape
    meta = {"epoch": 4, "hyperparameters": hp.model_dump(), "vocabulary": TAB_VOCAB.to_json(),
            "warmup_text": "abc de", "history": [], "best_epoch": 4}  # fmt: skip
    ckpt.save(model, meta, tmp_path)
    sampler = load_sampler(tmp_path)  # the run folder: its best checkpoint
    assert (sampler.epoch, sampler.warmup_text, sampler.vocabulary) == (4, "abc de", TAB_VOCAB)
    assert sampler.hyperparameters == hp and sampler.net.stateful and not hasattr(sampler, "model")
    texts = sample_texts(sampler, 50, 0.5, random_seed=2)
    expected = generate(NumpyLSTM.from_model(model_1x1), TAB_VOCAB.encode("abc de"), 50, 0.5, random_seed=2)
    assert texts == [TAB_VOCAB.decode(expected[0])]


def _teacher_logits(net, seed, row) -> np.ndarray:
    """The logits before each character of `row`, with the net fed seed + row (one stream)."""
    net.reset(1)
    net.warmup(np.asarray(seed[:-1]))
    logits = net.sequence_logits(np.concatenate([seed[-1:], row[:-1]]).astype(np.intp))
    return logits[0]  # (T, V)


def test_temperature_zero_is_greedy(net):
    seed = np.array([1, 2, 3])
    a = generate(net.clone(), seed, 300, [0.0, 1.0], count=2, random_seed=1)
    b = generate(net.clone(), seed, 300, [0.0], random_seed=7)
    np.testing.assert_array_equal(a[0], a[1])  # no randomness at temperature 0
    np.testing.assert_array_equal(a[0], b[0])
    logits = _teacher_logits(net.clone(), seed, a[0])
    np.testing.assert_array_equal(logits.argmax(axis=1), a[0])  # always the most likely character
    assert (a[2] != a[0]).any()


def test_top_k_and_top_p_draw_only_inside_their_set(net):
    seed = np.array([4, 2])
    greedy = generate(net.clone(), seed, 200, [0.0], random_seed=0)[0]
    np.testing.assert_array_equal(generate(net.clone(), seed, 200, [1.5], random_seed=3, top_k=1)[0], greedy)
    rows = generate(net.clone(), seed, 400, [2.0, 2.0], random_seed=5, top_k=3)
    for row in rows:
        logits = _teacher_logits(net.clone(), seed, row)
        rank = (logits > logits[np.arange(len(row)), row][:, None]).sum(axis=1)
        assert rank.max() <= 2  # among the 3 most likely at every step
    assert len(set(rows[0].tolist())) > 3  # and not one fixed character
    row = generate(net.clone(), seed, 400, [1.0], random_seed=9, top_p=0.6)[0]
    probs = softmax(_teacher_logits(net.clone(), seed, row), 1.0)
    for t, chosen in enumerate(row):
        more_likely = probs[t][probs[t] > probs[t][chosen]].sum()
        assert more_likely < 0.6  # inside the nucleus: the likelier characters hold less than p
    unrestricted = generate(net.clone(), seed, 400, [1.0], random_seed=9)[0]
    assert (unrestricted != row).any()
    with pytest.raises(ValueError, match="top_k"):
        generate(net.clone(), seed, 10, [1.0], top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        generate(net.clone(), seed, 10, [1.0], top_p=1.5)
