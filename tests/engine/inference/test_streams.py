"""Streams that share a batch (shared/engine/inference/streams.py): a stream's text does not depend
on the chunking nor on the streams that joined and left beside it."""

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import Vocabulary, undo_transforms
from shared.engine.inference.lowp import QuantizedLSTM
from shared.engine.inference.numpy_lstm import NumpyLSTM, softmax
from shared.engine.inference.sample import Sampler, generate, sample_texts
from shared.engine.inference.streams import Stream, StreamBatch, StreamSpec, draw_noise, request_streams
from tests.engine.tiny_models import VOCAB

SEED = np.array([3, 1, 4, 1, 5])


@pytest.fixture(scope="module")
def int8(model_1x1):
    return QuantizedLSTM.from_model(model_1x1)


def spec(length, temperature, random_seed, seed=SEED, **kw):
    return StreamSpec(np.asarray(seed), length, temperature, random_seed=random_seed, **kw)


def alone(net, one, chunk):
    """The ids of one stream stepped alone."""
    batch = StreamBatch(net, chunk=chunk)
    batch.join(one)
    out = []
    while batch.active:
        out += [ids for _, ids in batch.step()]
    return np.concatenate(out)


def drive(net, chunk, plan, leave_at=None):
    """Step a batch, joining plan[n] (name -> spec) before step n and leaving the named streams
    of leave_at[n]; returns each stream's ids and the Stream objects."""
    batch, n = StreamBatch(net, chunk=chunk), 0
    streams: dict[str, Stream] = {}
    got: dict[str, list[np.ndarray]] = {}
    while n <= max(plan) or batch.active:
        for name, one in plan.get(n, {}).items():
            streams[name] = batch.join(one)
            got[name] = []
        for name in (leave_at or {}).get(n, ()):
            batch.leave(streams[name])
        by_stream = {id(s): name for name, s in streams.items()}
        for stream, ids in batch.step():
            got[by_stream[id(stream)]].append(ids)
        n += 1
    return {name: np.concatenate(parts) if parts else np.empty(0, np.uint8) for name, parts in got.items()}, streams


def test_noise_draws_do_not_depend_on_the_chunking():
    """numpy's float32 exponentials are drawn one after another from the bit stream: two draws
    in a row give the numbers of one draw of both sizes."""
    whole = np.random.default_rng(5).standard_exponential(8 * VOCAB, dtype=np.float32)
    rng = np.random.default_rng(5)
    parts = [rng.standard_exponential(n * VOCAB, dtype=np.float32) for n in (3, 1, 4)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)

    temps = np.array([0.7, 0.0, 1.3])
    one = np.empty((8, VOCAB, 3), dtype=np.float32)
    draw_noise([np.random.default_rng(s) for s in (1, 2, 3)], temps, one)
    gens = [np.random.default_rng(s) for s in (1, 2, 3)]
    two = [np.empty((k, VOCAB, 3), dtype=np.float32) for k in (5, 3)]
    for part in two:
        draw_noise(gens, temps, part)
    np.testing.assert_array_equal(np.concatenate(two), one)
    assert (one[:, :, 1] == 0).all()  # greedy: no noise


def test_int8_streams_give_the_same_ids_alone_and_in_any_batch(int8):
    """int8 sums are exact integers: a stream's ids are the same whoever shares its batch, with
    streams of other temperatures, top-k, top-p and lengths joining and leaving at other chunks."""
    target = spec(300, 0.8, 11)
    others = {
        "topk": spec(100, 1.2, 12, top_k=3),
        "topp": spec(250, 0.5, 13, top_p=0.9),
        "greedy": spec(50, 0.0, 14),
        "k1": spec(60, 1.0, 15, top_k=1),  # only the most likely character: greedy
        "seed": spec(280, 1.0, 16, seed=[7, 2]),
        "cancel": spec(400, 1.0, 17),
    }
    plan = {0: {"target": target, "topk": others["topk"]}, 2: {"topp": others["topp"], "cancel": others["cancel"]}}
    plan[3] = {"greedy": others["greedy"], "k1": others["k1"], "seed": others["seed"]}
    got, streams = drive(int8, 17, plan, leave_at={6: ["cancel"]})
    np.testing.assert_array_equal(got["target"], alone(int8, target, 40))
    for name, one in others.items():
        if name != "cancel":
            np.testing.assert_array_equal(got[name], alone(int8, one, 64), err_msg=name)
    np.testing.assert_array_equal(got["k1"][:50], got["greedy"])
    # the cancelled stream left at a chunk boundary with what it had: a prefix of its whole text
    assert streams["cancel"].done and 0 < len(got["cancel"]) < 400
    np.testing.assert_array_equal(got["cancel"], alone(int8, others["cancel"], 64)[: len(got["cancel"])])
    assert all(s.done and s.generated == s.spec.length for n, s in streams.items() if n != "cancel")


def test_generate_rows_are_the_request_streams_alone(int8, net):
    """`generate` and a batch (the worker's) give a request's rows the same text."""
    for template in (int8, net):
        rows = generate(template, SEED, 120, [0.5, 1.0], count=2, random_seed=21, top_p=0.95)
        specs = request_streams(template, SEED, 120, [0.5, 1.0], 2, 21, top_p=0.95)
        assert [s.temperature for s in specs] == [0.5, 0.5, 1.0, 1.0]
        for row, one in zip(rows, specs, strict=True):
            np.testing.assert_array_equal(row, alone(template, one, 33))


def test_float32_distributions_agree_alone_and_in_a_batch(net):
    """float32 products round with the batch width: the next-character distributions before
    every draw agree within 1e-5."""
    target = spec(200, 1.0, 31)

    def recorded(plan):
        seen = []

        def observe(rows, logits):
            for r, stream in enumerate(rows):
                if stream.spec is target:
                    seen.append(softmax(logits[:, r]))

        batch, n = StreamBatch(net, chunk=23, observe=observe), 0
        while n <= max(plan) or batch.active:
            for one in plan.get(n, ()):
                batch.join(one)
            batch.step()
            n += 1
        return np.array(seen)

    lone = recorded({0: [target]})
    crowd = recorded({0: [spec(90, 0.7, 32), target], 1: [spec(150, 1.5, 33, top_k=4), spec(300, 0.0, 34)]})
    assert lone.shape == crowd.shape == (200, VOCAB)
    np.testing.assert_allclose(crowd, lone, rtol=0, atol=1e-5)


def test_joining_leaving_and_threads(int8, stateless_model):
    batch = StreamBatch(int8, chunk=10)
    assert batch.step() == [] and batch.active == 0
    empty = batch.join(spec(0, 1.0, 1))
    assert empty.done and batch.active == 0
    first = batch.join(spec(100, 1.0, 2))
    assert batch.active == 1 and first.generated == 0
    batch.step()
    second = batch.join(spec(100, 1.0, 3))  # waits for the next chunk boundary
    assert batch.active == 2 and second.generated == 0
    batch.set_threads(1)
    batch.step()
    assert (first.generated, second.generated) == (20, 10)
    batch.leave(first)
    assert [s for s, _ in batch.step()] == [second] and first.done and batch.active == 1
    with pytest.raises(ValueError):
        StreamBatch(NumpyLSTM.from_model(stateless_model))
    with pytest.raises(ValueError):
        batch.set_threads(0)
    bads: list[dict[str, object]] = [{"temperature": -1.0}, {"top_k": 0}, {"top_p": 1.5}, {"seed": []}, {"length": -1}]
    for bad in bads:
        with pytest.raises(ValueError):
            spec(**{"length": 5, "temperature": 1.0, "random_seed": 0, **bad})


TAB_VOCAB = Vocabulary("\t\nabcdefgh ")


@pytest.mark.parametrize("seed_text", ["abc\n\t", "abc\n\tdef", "ab"])
def test_decoder_pieces_are_the_whole_text_undone(net, seed_text):
    assert len(TAB_VOCAB) == VOCAB
    hp = Hyperparameters(layers=2, units=16, tabs=True)
    sampler = Sampler(net=net, vocabulary=TAB_VOCAB, hyperparameters=hp, warmup_text=seed_text, epoch=1)
    seed = TAB_VOCAB.encode(seed_text)
    text = "\t\tde\tf\n\t\t\tg \t\n\n\t a\t\n" * 3  # tabs at line starts, mid-line, split between pieces
    ids = TAB_VOCAB.encode(text)
    whole = undo_transforms(seed_text + text, tabs=True)[len(undo_transforms(seed_text, tabs=True)) :]
    for cuts in ([], [1, 2, 5, 6, 7, 8, 20], list(range(1, len(ids)))):
        decoder = sampler.decoder(seed)
        pieces = [decoder.feed(part) for part in np.split(ids, cuts)]
        assert "".join(pieces) == whole, cuts
    sampled = generate(net, seed, 500, [0.5, 1.5], random_seed=4)
    texts = sample_texts(sampler, 500, [0.5, 1.5], random_seed=4)
    for row, expected in zip(sampled, texts, strict=True):
        decoder = sampler.decoder(seed)
        assert "".join(decoder.feed(part) for part in np.array_split(row, 13)) == expected
