"""Text generation: warm up on a seed, then sample with a temperature and feed each sample back.

`generate` runs the numpy fast path (`numpy_lstm.NumpyLSTM`): every requested sample (one row per
temperature x count) advances together, one matrix product per layer per character. Sampling is
exact Gumbel-max: argmax(logits / T + G) with G = -log(E), E ~ Exp(1), is distributed as
softmax(logits / T); the noise is pre-drawn per chunk of characters (scaled by T, so a step is one
add and one argmax) from `np.random.default_rng(random_seed)`. The noise chunk size depends only on
the number of rows and the vocabulary, so with the same random seed a shorter sample is a prefix
of a longer one.

Stateful models carry their state from the seed through the whole sample. Stateless (windowed)
models are run as they were trained: every new character is predicted by running the last
`seq_len` characters from zero state (exact, and about seq_len times slower per character). A seed
shorter than the window gives shorter windows until the window fills.

`predict_loop_generate` is the slow reference (the paper's code and the Keras example): a batch-1
Keras model and one `model.predict` per character. Benchmarks and tests only.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .numpy_lstm import NumpyLSTM, check_temperature, softmax

__all__ = ["NumpyLSTM", "generate", "predict_loop_generate", "sample_texts"]

NOISE_FLOATS = 1 << 20   # floats of sampling noise drawn at once (4 MiB)
MAX_CHUNK = 2048         # characters between progress reports / stop checks
_TINY = np.finfo(np.float32).tiny


def chunk_length(rows: int, vocab_size: int) -> int:
    """Characters per noise chunk: a function of rows and vocabulary only (prefix property)."""
    return max(1, min(MAX_CHUNK, NOISE_FLOATS // (rows * vocab_size)))


def _check_temperatures(temperatures) -> np.ndarray:
    if np.ndim(temperatures) == 0:
        temperatures = [temperatures]
    temperatures = [check_temperature(t) for t in temperatures]
    if not temperatures:
        raise ValueError("give at least one temperature")
    return np.asarray(temperatures, dtype=np.float64)


def _output_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint8) if vocab_size <= 256 else np.dtype(np.int32)


def generate(
    net: NumpyLSTM,
    seed_ids,
    length: int,
    temperatures: float | Sequence[float],
    count: int = 1,
    random_seed: int | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """New character ids, shape (len(temperatures) * count, length); row r has temperature
    temperatures[r // count]. dtype uint8 for vocabularies of at most 256 characters, else int32.

    seed_ids: 1-D, at least one id; the warm-up. progress(done, total) is called after every
    chunk of at most 2048 characters; should_stop() is checked before each chunk, and when it
    returns true the characters generated so far are returned (fewer columns than `length`).
    Resets the net's state."""
    temps = _check_temperatures(temperatures)
    count, length = int(count), int(length)
    if count < 1:
        raise ValueError("count must be >= 1")
    if length < 0:
        raise ValueError("length must be >= 0")
    seed = net._ids(seed_ids).reshape(-1)
    if len(seed) == 0:
        raise ValueError("the seed must contain at least one character id")
    rows, vocab = len(temps) * count, net.vocab_size
    row_temps = np.repeat(temps, count).astype(np.float32)
    result = np.empty((rows, length), dtype=_output_dtype(vocab))
    if length == 0:
        return result
    rng = np.random.default_rng(random_seed)
    chunk = chunk_length(rows, vocab)
    noise = np.empty((chunk, vocab, rows), dtype=np.float32)
    ids = np.empty((chunk, rows), dtype=np.intp)
    neg_t = -row_temps

    if net.stateful:
        # warm up one stream, copy its state to every row, feed the seed's last id to all rows
        net.reset(1)
        if len(seed) > 1:
            net.warmup(seed[:-1])
        net.broadcast_row(0, rows)
        net._step(np.full(rows, seed[-1], dtype=np.intp))
        advance = _stateful_chunk(net)
    else:
        advance = _stateless_chunk(net, seed, rows, chunk)

    done = 0
    while done < length:
        if should_stop is not None and should_stop():
            return result[:, :done]
        k = min(chunk, length - done)
        part = noise[:k]
        rng.standard_exponential(out=part, dtype=np.float32)
        np.maximum(part, _TINY, out=part)        # float32 draws can be exactly 0: keep log finite
        np.log(part, out=part)
        np.multiply(part, neg_t, out=part)       # T * Gumbel: argmax(l + T*G) = argmax(l/T + G)
        advance(part, ids[:k], done + k == length)
        result[:, done:done + k] = ids[:k].T
        done += k
        if progress is not None:
            progress(done, length)
    return result


def _stateful_chunk(net: NumpyLSTM):
    step, logits, add = net._step, net._logits, np.add
    argmax = logits.argmax  # the bound method: a third of np.argmax's call overhead

    def advance(noise, ids, last_chunk):
        """Sample len(noise) characters into ids, stepping the net after each (but the very last)."""
        n = len(noise) - 1
        for k in range(n):
            add(logits, noise[k], out=logits)
            argmax(0, ids[k])
            step(ids[k])
        add(logits, noise[n], out=logits)
        argmax(0, ids[n])
        if not last_chunk:
            step(ids[n])

    return advance


def _stateless_chunk(net: NumpyLSTM, seed: np.ndarray, rows: int, chunk: int):
    """Every character from its window of the last seq_len ids (fewer at first), zero state."""
    window = net.seq_len
    history = np.empty((window + chunk, rows), dtype=np.intp)  # the last window ids + this chunk
    filled = min(len(seed), window)
    history[:filled] = seed[-filled:, None]
    position = [filled]  # ids in history

    def advance(noise, ids, last_chunk):
        p = position[0]
        if p > window:  # keep only the last `window` ids
            history[:window] = history[p - window:p]
            p = window
        net.reset(rows)
        step, logits, zero = net._step, net._logits, net._state.copy()
        cells = [cell[:u] for cell, u in zip(net._cells, net.units)]
        for k in range(len(noise)):
            np.copyto(net._state, zero)
            for c in cells:
                c.fill(0.0)
            for t in range(max(0, p - window), p - 1):
                step(history[t], False)
            step(history[p - 1])
            np.add(logits, noise[k], out=logits)
            logits.argmax(0, ids[k])
            history[p] = ids[k]
            p += 1
        position[0] = p

    return advance


def predict_loop_generate(
    model, seed_ids, length: int, temperature: float, random_seed: int | None = None
) -> np.ndarray:
    """The slow reference: one `model.predict` call per character on a batch-1 model.

    Stateful: a copy of the architecture with batch shape (1, 1) and the model's weights, fed the
    seed one character per call, then its own samples. Stateless: the last seq_len characters
    (the seed must have at least seq_len) rebuilt as a window for every character, as in the Keras
    example. Sampling draws from softmax(logits / T) with np.random.default_rng(random_seed).
    Returns the new ids, shape (length,)."""
    import keras

    from .model import OneHot

    temperature = check_temperature(temperature)
    net = NumpyLSTM.from_model(model)  # validates the architecture
    seed = net._ids(seed_ids).reshape(-1)
    if len(seed) == 0:
        raise ValueError("the seed must contain at least one character id")
    rng = np.random.default_rng(random_seed)
    vocab = net.vocab_size
    out = np.empty(length, dtype=np.int64)

    def draw(logits):
        return rng.choice(vocab, p=softmax(logits.reshape(-1), temperature))

    if net.stateful:
        inputs = keras.Input(batch_shape=(1, 1), dtype="int32")
        x = OneHot(vocab)(inputs)
        for units in net.units:
            x = keras.layers.LSTM(units, return_sequences=True, stateful=True)(x)
        x = keras.layers.Dense(vocab)(x)
        single = keras.Model(inputs, x)
        single.set_weights(model.get_weights())
        for layer in single.layers:
            if isinstance(layer, keras.layers.LSTM):
                layer.reset_states()
        for i in seed[:-1]:
            single.predict(np.array([[i]], dtype=np.int32), verbose=0)
        current = int(seed[-1])
        for k in range(length):
            logits = single.predict(np.array([[current]], dtype=np.int32), verbose=0)
            current = out[k] = draw(logits)
        return out
    window = net.seq_len
    if len(seed) < window:
        raise ValueError(f"a stateless model needs a seed of at least {window} characters")
    text = list(seed[-window:])
    for k in range(length):
        logits = model.predict(np.array([text[-window:]], dtype=np.int32), verbose=0)
        out[k] = draw(logits)
        text.append(out[k])
    return out


def sample_texts(
    checkpoint,
    length: int,
    temperatures: Sequence[float],
    count: int = 1,
    seed_text: str | None = None,
    random_seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[str]:
    """Generate texts from a loaded checkpoint (`checkpoint.load`): one per temperature x count,
    in that order, each `length` new characters (the seed not included), the corpus transforms
    undone (tabs back to spaces).

    seed_text: the warm-up; cleaned and transformed as the corpus was, characters outside the
    vocabulary dropped. Default: the checkpoint's warm-up text (the start of its corpus)."""
    from .corpus import apply_transforms, clean, undo_transforms

    hp = checkpoint.hp
    text = checkpoint.warmup_text if seed_text is None else apply_transforms(
        clean(seed_text), lowercase=hp.lowercase, tabs=hp.tabs)
    seed = checkpoint.vocab.encode(text, skip_unknown=True)
    if len(seed) == 0:
        raise ValueError("the seed text has no character of the model's vocabulary")
    net = NumpyLSTM.from_model(checkpoint.model)
    ids = generate(net, seed, length, temperatures, count=count, random_seed=random_seed,
                   progress=progress, should_stop=should_stop)
    # undo on seed + sample, so that a sample continuing the seed's indentation is undone right
    # (the undone seed is always a prefix of the undone whole)
    seed_text = checkpoint.vocab.decode(seed)
    prefix = len(undo_transforms(seed_text, tabs=hp.tabs))
    return [undo_transforms(seed_text + checkpoint.vocab.decode(row), tabs=hp.tabs)[prefix:] for row in ids]


def encode_seed(seed_text, vocabulary, hyperparameters):  # TEMPORARY until the engine-seams merge
    from .corpus import CorpusError, apply_transforms, clean

    text = apply_transforms(clean(seed_text), lowercase=hyperparameters.lowercase, tabs=hyperparameters.tabs)
    ids = vocabulary.encode(text, skip_unknown=True)
    if len(ids) == 0:
        raise CorpusError("the seed text has no character of the model's vocabulary (after cleaning)")
    return ids
