"""Text generation: warm up on a seed, then sample with a temperature and feed each sample back.

`Sampler` is a trained model ready to sample from (fused numpy weights, vocabulary,
hyperparameters, default warm-up text, epoch): `load_sampler(path)` reads a checkpoint once and
keeps no Keras model, so a service can cache it and share it between threads (every call of
`sample_texts` works on its own clone of the network). `encode_seed` is the one rule for a seed
text: cleaned and transformed as the corpus was, characters outside the vocabulary dropped.

`generate` runs the numpy fast path (`numpy_lstm.NumpyLSTM`, or `lowp.QuantizedLSTM`): every
requested sample (one row per temperature x count) advances together, one matrix product per layer
per character. Sampling is exact Gumbel-max: argmax(logits / T + G) with G = -log(E), E ~ Exp(1),
is distributed as softmax(logits / T). Each row is a stream (`streams.request_streams`) with its own
generator, drawing its noise in order, so with the same random seed a shorter sample is a prefix
of a longer one, and a row's text does not depend on the rows sampled with it (`streams.py`).

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
from .streams import StreamBatch, chunk_length, draw_noise, output_dtype, request_streams, restriction

if TYPE_CHECKING:
    from .lowp import QuantizedLSTM

__all__ = [
    "PRECISIONS", "Decoder", "Sampler", "chunk_length", "encode_seed", "generate", "load_sampler",
    "predict_loop_generate", "sample_texts",
]  # fmt: skip

# the weights sampling can run on: "float32" (NumpyLSTM, the exact reference) or "int8" (int8 weights
# with per-row scales times int8 inputs, int32 sums: lowp.QuantizedLSTM; benchmarks/sampling.py)
PRECISIONS = ("float32", "int8")

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]
# advance(noise (k, V, rows), ids (k, rows), last_chunk): sample k characters for every row
_Chunk = Callable[[np.ndarray, np.ndarray, bool], None]
Restrict = Callable[[np.ndarray, np.ndarray], None]


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
    def from_checkpoint(
        cls, checkpoint: Checkpoint, precisions: Sequence[str] = ("float32",), threads: int | None = None
    ) -> Sampler:
        """The float32 net always (`net`), and a reduced net for each other precision asked for,
        with `threads` kernel threads (None: every usable core; `lowp.usable_cores`)."""
        unknown = [p for p in precisions if p not in PRECISIONS]
        if unknown:
            raise ValueError(f"unknown precision {unknown[0]!r}: expected one of {', '.join(PRECISIONS)}")
        reduced = {}
        if "int8" in precisions:
            from .lowp import QuantizedLSTM  # numba: imported only when a reduced net is asked for

            reduced["int8"] = QuantizedLSTM.from_model(checkpoint.model, threads=threads)
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

    def seed_ids(self, seed_text: str | None = None) -> np.ndarray:
        """The ids of a seed text (`encode_seed`), or of the warm-up text when it is None.
        CorpusError when no character is left."""
        if seed_text is not None:
            return encode_seed(seed_text, self.vocabulary, self.hyperparameters)
        seed = self.vocabulary.encode(self.warmup_text, skip_unknown=True)
        if len(seed) == 0:
            raise CorpusError("the model has no warm-up text: give a seed text")
        return seed

    def decoder(self, seed_ids) -> Decoder:
        """An incremental decoder of the text that follows `seed_ids`: `.feed(ids)` returns their
        characters with the corpus transforms undone; the pieces of a row, concatenated, are the
        text `sample_texts` returns for it."""
        return Decoder(self.vocabulary, tabs=self.hyperparameters.tabs, before=self.vocabulary.decode(seed_ids))


class Decoder:
    """Characters of sampled ids, piece by piece, with `undo_transforms` applied as it would be to
    the whole text after `before` (the seed): a tab in a line's leading whitespace is 4 spaces,
    whichever piece the line started in."""

    def __init__(self, vocabulary: Vocabulary, *, tabs: bool, before: str = "") -> None:
        self._vocabulary, self._tabs = vocabulary, tabs
        self._leading = _in_leading_whitespace(True, before)  # the text so far ends in a line's indent

    def feed(self, ids) -> str:
        piece = self._vocabulary.decode(np.asarray(ids))
        if not self._tabs or not piece:
            return piece
        if self._leading:
            run = len(piece) - len(piece.lstrip(" \t"))  # continues the indent: undo it, then whole lines
            out = undo_transforms(piece[:run], tabs=True) + undo_transforms(piece[run:], tabs=True)
        else:
            line_end = piece.find("\n") + 1  # mid-line up to the first newline: nothing to undo
            out = piece if line_end == 0 else piece[:line_end] + undo_transforms(piece[line_end:], tabs=True)
        self._leading = _in_leading_whitespace(self._leading, piece)
        return out


def _in_leading_whitespace(before: bool, piece: str) -> bool:
    """Whether text ends inside a line's leading whitespace, after `piece` follows text that did
    (`before`)."""
    line_start = piece.rfind("\n") + 1
    tail = piece[line_start:]
    return (before or line_start > 0) and tail.strip(" \t") == ""


def load_sampler(path: Path | str, precisions: Sequence[str] = ("float32",), threads: int | None = None) -> Sampler:
    """Load a checkpoint folder (or a run folder's best checkpoint) as a Sampler: Keras loads the
    model once (without its optimizer), its weights are fused (and reduced, for each of
    `precisions` other than float32; `threads` as in `Sampler.from_checkpoint`), and the Keras
    model is dropped."""
    from ..training.checkpoint import load

    return Sampler.from_checkpoint(load(Path(path), compile=False), precisions, threads)


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
    seed = sampler.seed_ids(seed_text)
    ids = generate(
        net, seed, length, temperatures, count=count, random_seed=random_seed,
        progress=progress, should_stop=should_stop, top_k=top_k, top_p=top_p,
    )  # fmt: skip
    return [sampler.decoder(seed).feed(row) for row in ids]


# --- the fast path --------------------------------------------------------------------------------


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

    The rows are `streams.request_streams`' (each its own generator, spawned from random_seed), so
    a row's text is the one the sampling worker gives the same request, and with the same random
    seed a shorter sample is a prefix of a longer one. Stateful nets run as a `StreamBatch`.

    seed_ids: 1-D, at least one id; the warm-up. progress(done, total) is called after every
    chunk of at most 2048 characters; should_stop() is checked before each chunk, and when it
    returns true the characters generated so far are returned (fewer columns than `length`).
    `net` is a template, never stepped (the sampling runs on clones): threads may share it."""
    specs = request_streams(net, seed_ids, length, temperatures, count, random_seed, top_k, top_p)
    rows, length, vocab = len(specs), int(length), net.vocab_size
    result = np.empty((rows, length), dtype=output_dtype(vocab))
    if length == 0:
        return result
    chunk = chunk_length(rows, vocab)
    if not net.stateful:
        return _generate_windowed(net.clone(), specs, chunk, result, progress, should_stop)
    batch = StreamBatch(net, chunk=chunk)
    streams = [batch.join(spec) for spec in specs]
    row_of = {id(stream): r for r, stream in enumerate(streams)}
    done = 0  # every row has the same length: they step in lockstep
    while done < length:
        if should_stop is not None and should_stop():
            return result[:, :done]
        for stream, ids in batch.step():
            result[row_of[id(stream)], done : stream.generated] = ids
        done = streams[0].generated
        if progress is not None:
            progress(done, length)
    return result


def _generate_windowed(net, specs, chunk, result, progress, should_stop) -> np.ndarray:
    """`generate` for a stateless net: every character from its window (`_stateless_chunk`)."""
    rows, length = result.shape
    temps = np.array([s.temperature for s in specs], dtype=np.float64)
    restrict = restriction([s.top_k for s in specs], [s.top_p for s in specs], temps, net.vocab_size)
    generators = [np.random.default_rng(s.random_seed) for s in specs]
    advance = _stateless_chunk(net, specs[0].seed, rows, chunk, restrict)
    noise = np.empty((chunk, net.vocab_size, rows), dtype=np.float32)
    ids = np.empty((chunk, rows), dtype=np.intp)
    done = 0
    while done < length:
        if should_stop is not None and should_stop():
            return result[:, :done]
        k = min(chunk, length - done)
        draw_noise(generators, temps, noise[:k])
        advance(noise[:k], ids[:k], done + k == length)
        result[:, done : done + k] = ids[:k].T
        done += k
        if progress is not None:
            progress(done, length)
    return result


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
