"""Text generation: warm up on a seed, then sample with a temperature and feed each sample back.

`Sampler` is a trained model ready to sample from (fused numpy weights, vocabulary,
hyperparameters, default warm-up text, epoch): `load_sampler(path)` reads a checkpoint once and
keeps no Keras model, so a service can cache it and share it between threads (every call of
`sample_texts` works on its own clone of the network). `encode_seed` is the one rule for a seed
text: cleaned and transformed as the corpus was, characters outside the vocabulary dropped.

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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import Hyperparameters
from ..data.corpus import CorpusError, Vocabulary, apply_transforms, clean, undo_transforms
from ..training.checkpoint import Checkpoint
from .numpy_lstm import NumpyLSTM, check_temperature, softmax

if TYPE_CHECKING:
    from .lowp import QuantizedLSTM

__all__ = [
    "PRECISIONS", "Sampler", "encode_seed", "generate", "load_sampler", "predict_loop_generate", "sample_texts",
]  # fmt: skip

# the weights sampling can run on: "float32" (NumpyLSTM, the exact reference) or "int8" (int8 weights
# with per-row scales times int8 inputs, int32 sums: lowp.QuantizedLSTM; benchmarks/sampling.py)
PRECISIONS = ("float32", "int8")

NOISE_FLOATS = 1 << 20  # floats of sampling noise drawn at once (4 MiB)
MAX_CHUNK = 2048  # characters between progress reports / stop checks
_TINY = np.finfo(np.float32).tiny

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]
# advance(noise (k, V, rows), ids (k, rows), last_chunk): sample k characters for every row
_Chunk = Callable[[np.ndarray, np.ndarray, bool], None]


@dataclass(frozen=True)
class Sampler:
    """A trained model in the form sampling needs; immutable and safe to share between threads.

    `net` is a template: it is never stepped; every `sample_texts` call runs on `net.clone()`."""

    net: NumpyLSTM
    vocabulary: Vocabulary
    hyperparameters: Hyperparameters
    warmup_text: str  # the default seed: the start of the corpus, cleaned and transformed
    epoch: int  # the checkpoint's epoch
    # the nets of the other precisions asked for at load time (`net_for`)
    reduced: Mapping[str, QuantizedLSTM] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, precisions: Sequence[str] = ("float32",)) -> Sampler:
        """The float32 net always (`net`), and a reduced net for each other precision asked for."""
        unknown = [p for p in precisions if p not in PRECISIONS]
        if unknown:
            raise ValueError(f"unknown precision {unknown[0]!r}: expected one of {', '.join(PRECISIONS)}")
        reduced = {}
        if "int8" in precisions:
            from .lowp import QuantizedLSTM  # numba: imported only when a reduced net is asked for

            reduced["int8"] = QuantizedLSTM.from_model(checkpoint.model)
        return cls(
            net=NumpyLSTM.from_model(checkpoint.model),
            vocabulary=checkpoint.vocabulary,
            hyperparameters=checkpoint.hyperparameters,
            warmup_text=checkpoint.warmup_text,
            epoch=checkpoint.epoch,
            reduced=reduced,
        )

    def net_for(self, precision: str = "float32") -> NumpyLSTM | QuantizedLSTM:
        """The template net of a precision: `net` for "float32", else the reduced net loaded with
        the sampler (`load_sampler(path, precisions=...)`). Never stepped: clone it."""
        if precision == "float32":
            return self.net
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        if precision not in self.reduced:
            raise ValueError(f"this sampler has no {precision} net: load it with precisions=({precision!r},)")
        return self.reduced[precision]


def load_sampler(path: Path | str, precisions: Sequence[str] = ("float32",)) -> Sampler:
    """Load a checkpoint folder (or a run folder's best checkpoint) as a Sampler: Keras loads the
    model once (without its optimizer), its weights are fused (and reduced, for each of
    `precisions` other than float32), and the Keras model is dropped."""
    from ..training.checkpoint import load

    return Sampler.from_checkpoint(load(Path(path), compile=False), precisions)


def encode_seed(seed_text: str, vocabulary: Vocabulary, hyperparameters: Hyperparameters) -> np.ndarray:
    """The ids of a seed text as the model reads it: cleaned and transformed as its corpus was
    (`hyperparameters.lowercase`, `.tabs`), characters outside `vocabulary` dropped.

    CorpusError when no character is left."""
    text = apply_transforms(clean(seed_text), lowercase=hyperparameters.lowercase, tabs=hyperparameters.tabs)
    ids = vocabulary.encode(text, skip_unknown=True)
    if len(ids) == 0:
        raise CorpusError("the seed text has no character of the model's vocabulary")
    return ids


def sample_texts(
    sampler: Sampler,
    length: int,
    temperatures: float | Sequence[float],
    count: int = 1,
    seed_text: str | None = None,
    random_seed: int | None = None,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    precision: str = "float32",
) -> list[str]:
    """Generate texts: one per temperature x count, in that order, each `length` new characters
    (the seed not included; fewer when `should_stop` stopped it), the corpus transforms undone
    (tabs back to spaces).

    seed_text: the warm-up, read by `encode_seed`. Default: the sampler's warm-up text (the start
    of its corpus). progress, should_stop, top_k and top_p as in `generate` (temperature 0:
    greedy). precision: the weights to run on (PRECISIONS; `Sampler.net_for`). Thread-safe."""
    net = sampler.net_for(precision)
    hp, vocabulary = sampler.hyperparameters, sampler.vocabulary
    if seed_text is None:
        seed = vocabulary.encode(sampler.warmup_text, skip_unknown=True)
        if len(seed) == 0:
            raise CorpusError("the model has no warm-up text: give a seed text")
    else:
        seed = encode_seed(seed_text, vocabulary, hp)
    ids = generate(
        net.clone(), seed, length, temperatures, count=count, random_seed=random_seed,
        progress=progress, should_stop=should_stop, top_k=top_k, top_p=top_p,
    )  # fmt: skip
    # undo on seed + sample, so that a sample continuing the seed's indentation is undone right
    # (the undone seed is always a prefix of the undone whole)
    seed_chars = vocabulary.decode(seed)
    prefix = len(undo_transforms(seed_chars, tabs=hp.tabs))
    return [undo_transforms(seed_chars + vocabulary.decode(row), tabs=hp.tabs)[prefix:] for row in ids]


# --- the fast path --------------------------------------------------------------------------------


def chunk_length(rows: int, vocab_size: int) -> int:
    """Characters per noise chunk: a function of rows and vocabulary only (prefix property)."""
    return max(1, min(MAX_CHUNK, NOISE_FLOATS // (rows * vocab_size)))


def _check_temperatures(temperatures) -> np.ndarray:
    """Temperatures > 0, or 0 for greedy decoding (the most likely character every time)."""
    if np.ndim(temperatures) == 0:
        temperatures = [temperatures]
    temperatures = [0.0 if float(t) == 0.0 else check_temperature(t) for t in temperatures]
    if not temperatures:
        raise ValueError("give at least one temperature")
    return np.asarray(temperatures, dtype=np.float64)


def _output_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint8) if vocab_size <= 256 else np.dtype(np.int32)


def generate(
    net: NumpyLSTM | QuantizedLSTM,
    seed_ids,
    length: int,
    temperatures: float | Sequence[float],
    count: int = 1,
    random_seed: int | None = None,
    *,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """New character ids, shape (len(temperatures) * count, length); row r has temperature
    temperatures[r // count] (0: greedy). dtype uint8 for vocabularies of at most 256 characters,
    else int32. top_k: draw only among the k most likely characters; top_p: only among the most
    likely characters whose probabilities (at the row's temperature) add up to p (nucleus).

    seed_ids: 1-D, at least one id; the warm-up. progress(done, total) is called after every
    chunk of at most 2048 characters; should_stop() is checked before each chunk, and when it
    returns true the characters generated so far are returned (fewer columns than `length`).
    Resets the net's state (and its rows): give every thread its own net (`NumpyLSTM.clone`)."""
    temps = _check_temperatures(temperatures)
    count, length = int(count), int(length)
    if count < 1:
        raise ValueError("count must be >= 1")
    if length < 0:
        raise ValueError("length must be >= 0")
    seed = net.check_ids(seed_ids).reshape(-1)
    if len(seed) == 0:
        raise ValueError("the seed must contain at least one character id")
    rows, vocab = len(temps) * count, net.vocab_size
    row_temps = np.repeat(temps, count).astype(np.float32)
    restrict = _restriction(top_k, top_p, row_temps, vocab)
    result = np.empty((rows, length), dtype=_output_dtype(vocab))
    if length == 0:
        return result
    rng = np.random.default_rng(random_seed)
    chunk = chunk_length(rows, vocab)
    noise = np.empty((chunk, vocab, rows), dtype=np.float32)
    ids = np.empty((chunk, rows), dtype=np.intp)
    neg_t = -row_temps

    advance: _Chunk
    if net.stateful:
        # warm up one stream, copy its state to every row, feed the seed's last id to all rows
        net.reset(1)
        net.warmup(seed[:-1])
        net.broadcast_row(0, rows)
        net.advance(np.full(rows, seed[-1], dtype=np.intp))
        advance = _stateful_chunk(net, restrict)
    else:
        advance = _stateless_chunk(net, seed, rows, chunk, restrict)

    done = 0
    while done < length:
        if should_stop is not None and should_stop():
            return result[:, :done]
        k = min(chunk, length - done)
        part = noise[:k]
        rng.standard_exponential(out=part, dtype=np.float32)
        np.maximum(part, _TINY, out=part)  # float32 draws can be exactly 0: keep log finite
        np.log(part, out=part)
        np.multiply(part, neg_t, out=part)  # T * Gumbel: argmax(l + T*G) = argmax(l/T + G)
        advance(part, ids[:k], done + k == length)
        result[:, done : done + k] = ids[:k].T
        done += k
        if progress is not None:
            progress(done, length)
    return result


Restrict = Callable[[np.ndarray, np.ndarray], None]


def _restriction(top_k: int | None, top_p: float | None, row_temps: np.ndarray, vocab: int) -> Restrict | None:
    """A function (logits, scores) that sets to -inf the scores of the characters a row may not
    draw (outside its top k, or outside its nucleus of mass top_p); None when there is none."""
    if top_k is not None and not int(top_k) >= 1:
        raise ValueError(f"top_k must be >= 1, not {top_k!r}")
    if top_p is not None and not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], not {top_p!r}")
    k = None if top_k is None or int(top_k) >= vocab else int(top_k)
    p = None if top_p is None or float(top_p) >= 1.0 else float(top_p)
    if k is None and p is None:
        return None
    scale = np.where(row_temps > 0, row_temps, 1.0).astype(np.float32)  # greedy rows: any p keeps the top

    def restrict(logits: np.ndarray, scores: np.ndarray) -> None:
        drop = np.zeros(logits.shape, dtype=bool)
        if k is not None:
            kth = np.partition(logits, vocab - k, axis=0)[vocab - k]
            drop |= logits < kth
        if p is not None:
            z = logits / scale
            probs = np.exp(z - z.max(axis=0))
            probs /= probs.sum(axis=0)
            order = np.argsort(-probs, axis=0)
            ranked = np.take_along_axis(probs, order, axis=0)
            before = np.cumsum(ranked, axis=0) - ranked  # mass of the more likely characters
            outside = np.empty_like(drop)
            np.put_along_axis(outside, order, before >= p, axis=0)
            drop |= outside
        scores[drop] = -np.inf

    return restrict


def _stateful_chunk(net: NumpyLSTM | QuantizedLSTM, restrict: Restrict | None = None) -> _Chunk:
    fused = getattr(net, "sample_chunk", None)  # a net with its own compiled loop (lowp.QuantizedLSTM)
    if fused is not None and restrict is None:
        return fused
    step, logits, add = net.advance, net.logits, np.add
    scores = np.empty_like(logits)  # logits + noise
    argmax = scores.argmax  # the bound method: a third of np.argmax's call overhead

    def advance(noise, ids, last_chunk):
        """Sample len(noise) characters into ids, stepping the net after each (but the very last)."""
        n = len(noise) - 1
        for k in range(n):
            add(logits, noise[k], out=scores)
            if restrict is not None:
                restrict(logits, scores)
            argmax(0, ids[k])
            step(ids[k])
        add(logits, noise[n], out=scores)
        if restrict is not None:
            restrict(logits, scores)
        argmax(0, ids[n])
        if not last_chunk:
            step(ids[n])

    return advance


def _stateless_chunk(
    net: NumpyLSTM | QuantizedLSTM, seed: np.ndarray, rows: int, chunk: int, restrict: Restrict | None = None
) -> _Chunk:
    """Every character from its window of the last seq_len ids (fewer at first), zero state."""
    window = net.seq_len
    if window is None:
        raise ValueError("a stateless model needs its window length")
    history = np.empty((window + chunk, rows), dtype=np.intp)  # the last window ids + this chunk
    filled = min(len(seed), window)
    history[:filled] = seed[-filled:, None]
    position = [filled]  # ids in history
    net.reset(rows)
    step, logits, reset = net.advance, net.logits, net.reset
    scores = np.empty_like(logits)

    def advance(noise, ids, last_chunk):
        p = position[0]
        if p > window:  # keep only the last `window` ids
            history[:window] = history[p - window : p]
            p = window
        for k in range(len(noise)):
            reset()
            for t in range(max(0, p - window), p - 1):
                step(history[t], False)
            step(history[p - 1])
            np.add(logits, noise[k], out=scores)
            if restrict is not None:
                restrict(logits, scores)
            scores.argmax(0, ids[k])
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

    from ..training.model import OneHot

    temperature = check_temperature(temperature)
    net = NumpyLSTM.from_model(model)  # validates the architecture
    seed = net.check_ids(seed_ids).reshape(-1)
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
    window = net.seq_len or 0
    if len(seed) < window:
        raise ValueError(f"a stateless model needs a seed of at least {window} characters")
    text = list(seed[-window:])
    for k in range(length):
        logits = model.predict(np.array([text[-window:]], dtype=np.int32), verbose=0)
        out[k] = draw(logits)
        text.append(out[k])
    return out


def sample_names(temperatures: Sequence[float], count: int, stem: str = "sample", suffix: str = ".txt") -> list[str]:
    """File names for the texts of one request, in the order sample_texts returns them (per
    temperature, `count` each): `sample-1-t0.75.txt`. A temperature asked twice numbers the texts
    through instead, so names stay unique. The CLI and the service name files this way."""
    pairs = [(i, t) for t in temperatures for i in range(1, count + 1)]
    names = [f"{stem}-{i}-t{t:g}{suffix}" for i, t in pairs]
    if len(set(names)) < len(names):
        names = [f"{stem}-{k}-t{t:g}{suffix}" for k, (_, t) in enumerate(pairs, start=1)]
    return names
