"""Streams that share a stepping batch: sampling requests that come and go while one net steps them.

A `StreamSpec` is one text to generate (seed, length, temperature, top-k, top-p and its own random
generator). `request_streams` is the one rule for the rows of a request (row r has temperature
temperatures[r // count] and the r-th child of `SeedSequence(random_seed)`), used by
`sample.generate` and by the sampling worker, so a text does not depend on who it was sampled with.

`StreamBatch(net)` steps every joined stream together, one chunk of characters per `step()`:

- `join(spec)` warms the stream up alone on its seed (all but the last id, in the caller's thread,
  on a clone of the template; the same seed joined again reuses the warm state) and queues it; it
  enters at the next chunk boundary with its warm state and its pending input id (the seed's last).
- A chunk starts with one step on every row's pending id, then samples up to `chunk` characters,
  the net stepping after each but the chunk's last (whose id becomes the row's pending one): the
  steps of a lone stream, whatever the chunking. It ends where the shortest active stream ends;
  a finished stream, or one that `leave` asked to go, is dropped at the boundary.
- Every stream draws its own sampling noise from its own generator, in order (Gumbel-max:
  argmax(logits - T log E), E ~ Exp(1), as `generate` always did), so its draws depend neither on
  the chunking nor on the other rows; top-k and top-p are per row (`restriction`).

The int8 net's sums are exact integers, so a stream gives the same ids alone and in any batch; the
float32 net's matrix products round differently with the batch width (its next-character
distributions agree within 1e-5: tests/engine/inference/test_streams.py). Stateful nets only: a
windowed net raises ValueError (`generate` runs those itself).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .numpy_lstm import NumpyLSTM, check_temperature

if TYPE_CHECKING:
    from .lowp import QuantizedLSTM

__all__ = [
    "MAX_CHUNK", "Stream", "StreamBatch", "StreamSpec", "chunk_length", "check_temperatures", "draw_noise",
    "output_dtype", "request_streams", "restriction",
]  # fmt: skip

NOISE_FLOATS = 1 << 20  # floats of sampling noise drawn at once (4 MiB)
MAX_CHUNK = 2048  # characters between progress reports / stop checks
ENTRY_WAIT_S = 0.25  # at most about this much stepping before a joined stream enters (chunk=None)
FIRST_CHUNK = 16  # characters of a batch's first chunk before its step time is known (chunk=None)
WARM_CACHE = 8  # warm states of recent seeds kept per batch
_TINY = np.finfo(np.float32).tiny

Restrict = Callable[[np.ndarray, np.ndarray], None]
# observe(streams, logits (V, rows)): called before every draw of the Python loop (tests)
Observe = Callable[[list["Stream"], np.ndarray], None]


def chunk_length(rows: int, vocab_size: int) -> int:
    """Characters per noise chunk: at most MAX_CHUNK, and at most NOISE_FLOATS floats of noise."""
    return max(1, min(MAX_CHUNK, NOISE_FLOATS // (rows * vocab_size)))


def check_temperatures(temperatures) -> np.ndarray:
    """Temperatures > 0, or 0 for greedy decoding (the most likely character every time)."""
    if np.ndim(temperatures) == 0:
        temperatures = [temperatures]
    temperatures = [0.0 if float(t) == 0.0 else check_temperature(t) for t in temperatures]
    if not temperatures:
        raise ValueError("give at least one temperature")
    return np.asarray(temperatures, dtype=np.float64)


def output_dtype(vocab_size: int) -> np.dtype:
    """The dtype of sampled ids: uint8 for vocabularies of at most 256 characters, else int32."""
    return np.dtype(np.uint8) if vocab_size <= 256 else np.dtype(np.int32)


def _check_top(top_k: int | None, top_p: float | None) -> None:
    if top_k is not None and not int(top_k) >= 1:
        raise ValueError(f"top_k must be >= 1, not {top_k!r}")
    if top_p is not None and not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], not {top_p!r}")


@dataclass(frozen=True)
class StreamSpec:
    """One text to generate: `length` new characters after the warm-up on `seed` (>= 1 id), drawn
    at `temperature` (0: greedy), among the top_k most likely / the nucleus of mass top_p (None:
    all), with the stream's own generator `np.random.default_rng(random_seed)`."""

    seed: np.ndarray
    length: int
    temperature: float
    top_k: int | None = None
    top_p: float | None = None
    random_seed: np.random.SeedSequence | int | None = None

    def __post_init__(self) -> None:
        seed = np.asarray(self.seed)
        if seed.ndim != 1 or len(seed) == 0 or not np.issubdtype(seed.dtype, np.integer):
            raise ValueError("the seed must be a 1-D array of at least one character id")
        if int(self.length) < 0:
            raise ValueError("length must be >= 0")
        check_temperatures(self.temperature)
        _check_top(self.top_k, self.top_p)


def request_streams(
    net: NumpyLSTM | QuantizedLSTM,
    seed_ids,
    length: int,
    temperatures: float | Sequence[float],
    count: int = 1,
    random_seed: np.random.SeedSequence | int | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> list[StreamSpec]:
    """The rows of one request, in order: row r has temperature temperatures[r // count] and the
    generator of SeedSequence(random_seed).spawn(rows)[r] (random_seed None: fresh entropy).

    net: any net of the model (a Sampler's template), to check the seed ids against."""
    temps = check_temperatures(temperatures)
    count, length = int(count), int(length)
    if count < 1:
        raise ValueError("count must be >= 1")
    if length < 0:
        raise ValueError("length must be >= 0")
    _check_top(top_k, top_p)
    seed = net.check_ids(seed_ids).reshape(-1)
    if len(seed) == 0:
        raise ValueError("the seed must contain at least one character id")
    seed.flags.writeable = False
    rows = len(temps) * count
    root = random_seed if isinstance(random_seed, np.random.SeedSequence) else np.random.SeedSequence(random_seed)
    children = root.spawn(rows)
    return [
        StreamSpec(seed, length, float(temps[r // count]), top_k, top_p, children[r])
        for r in range(rows)
    ]  # fmt: skip


def draw_noise(generators: Sequence[np.random.Generator], temperatures: np.ndarray, out: np.ndarray) -> None:
    """Fill out (k, V, rows) with each row's scaled Gumbel noise, -T log E (E ~ Exp(1) float32,
    at least the smallest normal float), drawn in order from that row's own generator (k x V
    draws); a greedy row (T = 0) draws nothing and gets zeros."""
    k, vocab, _ = out.shape
    draw = np.empty((k, vocab), dtype=np.float32)
    for r, (rng, t) in enumerate(zip(generators, temperatures, strict=True)):
        if t == 0:
            out[:, :, r] = 0.0
            continue
        rng.standard_exponential(out=draw, dtype=np.float32)
        np.maximum(draw, _TINY, out=draw)  # float32 draws can be exactly 0: keep log finite
        np.log(draw, out=draw)
        np.multiply(draw, np.float32(-t), out=draw)  # T * Gumbel: argmax(l + T*G) = argmax(l/T + G)
        out[:, :, r] = draw


def restriction(
    top_k: Sequence[int | None], top_p: Sequence[float | None], temperatures, vocab: int
) -> Restrict | None:
    """A function (logits, scores), both (V, rows), that sets to -inf the scores of the characters
    row r may not draw: outside its top_k[r] most likely, or outside its nucleus (the most likely
    characters whose probabilities at its temperature add up to top_p[r]); None when no row has
    either."""
    for k, p in zip(top_k, top_p, strict=True):
        _check_top(k, p)
    ks = np.array([vocab if k is None else min(int(k), vocab) for k in top_k], dtype=np.intp)
    ps = np.array([np.inf if p is None or float(p) >= 1.0 else float(p) for p in top_p], dtype=np.float64)
    any_k, any_p = bool((ks < vocab).any()), bool(np.isfinite(ps).any())
    if not (any_k or any_p):
        return None
    temps = np.asarray(temperatures, dtype=np.float32)
    scale = np.where(temps > 0, temps, 1.0).astype(np.float32)  # greedy rows: any p keeps the top
    columns = np.arange(len(ks))

    def restrict(logits: np.ndarray, scores: np.ndarray) -> None:
        drop = np.zeros(logits.shape, dtype=bool)
        if any_k:
            kth = np.sort(logits, axis=0)[vocab - ks, columns]  # each row's k-th largest
            drop |= logits < kth
        if any_p:
            z = logits / scale
            probs = np.exp(z - z.max(axis=0))
            probs /= probs.sum(axis=0)
            order = np.argsort(-probs, axis=0)
            ranked = np.take_along_axis(probs, order, axis=0)
            before = np.cumsum(ranked, axis=0) - ranked  # mass of the more likely characters
            outside = np.empty_like(drop)
            np.put_along_axis(outside, order, before >= ps, axis=0)
            drop |= outside
        scores[drop] = -np.inf

    return restrict


class Stream:
    """A joined stream: its `spec`, `generated` (characters so far) and `done` (it generated its
    length, or left the batch). Its state lives in the batch; read these from any thread."""

    def __init__(self, spec: StreamSpec, state: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.spec = spec
        self.generated = 0
        self.done = spec.length == 0
        self.rng = np.random.default_rng(spec.random_seed)
        self._warm: list[tuple[np.ndarray, np.ndarray]] | None = state  # (1, u) per layer, until it enters
        self._pending = int(spec.seed[-1])  # the next id to feed
        self._leaving = False

    @property
    def remaining(self) -> int:
        return int(self.spec.length) - self.generated

    def __repr__(self) -> str:
        return f"Stream(generated={self.generated}/{self.spec.length}, done={self.done})"


class StreamBatch:
    """Streams stepped together by one clone of a stateful template net (NumpyLSTM or
    QuantizedLSTM). `join` and `leave` from any thread; `step` from one thread (the batch's).

    chunk: characters per step at most (None: what keeps a joining stream's wait near
    ENTRY_WAIT_S of stepping, measured as it runs, within 16..chunk_length(rows, V))."""

    def __init__(self, net: NumpyLSTM | QuantizedLSTM, chunk: int | None = None, *, observe: Observe | None = None):
        if not net.stateful:
            raise ValueError("a stream batch needs a stateful net: a windowed net is sampled alone (generate)")
        if chunk is not None and int(chunk) < 1:
            raise ValueError("chunk must be >= 1")
        self._template = net
        self._net = net.clone()
        self._chunk = None if chunk is None else int(chunk)
        self._observe = observe  # for tests: forces the Python loop
        self._lock = threading.Lock()
        self._joining: list[Stream] = []
        self._members: list[Stream] = []
        self._warmed: OrderedDict[bytes, list[tuple[np.ndarray, np.ndarray]]] = OrderedDict()
        self._timing: tuple[float, int] | None = None  # seconds per character of the last chunk, its rows
        self._dtype = output_dtype(net.vocab_size)

    # --- any thread -------------------------------------------------------------------------

    def join(self, spec: StreamSpec) -> Stream:
        """Warm a stream up on its seed (in this thread) and queue it: it enters at the next chunk
        boundary. A stream of length 0 is done at once and never enters."""
        seed = self._template.check_ids(spec.seed).reshape(-1)
        stream = Stream(spec, self._warm_state(seed))
        if stream.done:
            return stream
        with self._lock:
            self._joining.append(stream)
        return stream

    def leave(self, stream: Stream) -> None:
        """Ask a stream to go: it is dropped at the next chunk boundary (done, with what it has)."""
        with self._lock:
            stream._leaving = True

    @property
    def active(self) -> int:
        """Streams stepping or waiting to enter."""
        with self._lock:
            return sum(not s.done for s in self._members) + len(self._joining)

    def set_threads(self, threads: int) -> None:
        """Kernel threads of an int8 net from its next step on (warm-ups run on one: `_warm_state`;
        no-op for a float32 net, whose BLAS threads are the process's)."""
        if int(threads) < 1:
            raise ValueError("threads must be >= 1")
        set_threads = getattr(self._net, "set_threads", None)  # the int8 net's (lowp.QuantizedLSTM)
        if set_threads is not None:
            set_threads(int(threads))

    def _warm_state(self, seed: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        key = seed.tobytes()
        with self._lock:
            if key in self._warmed:
                self._warmed.move_to_end(key)
                return self._warmed[key]
        net = self._template.clone()
        # One kernel thread: the warm-up runs in the caller's thread, and a thread that ran an int8
        # kernel on several threads and lives on (a worker's request thread, waiting for its stream)
        # makes the batch thread's kernels about 3x slower (OpenMP keeps a team per calling thread:
        # 20,000 characters of 3 x 512 in 5.8 s instead of 1.7-2.1 s, measured); a seed is short.
        if hasattr(net, "set_threads"):
            net.set_threads(1)
        net.reset(1)
        net.warmup(seed[:-1])
        state = net.state
        with self._lock:
            self._warmed[key] = state
            while len(self._warmed) > WARM_CACHE:
                self._warmed.popitem(last=False)
        return state

    # --- the batch's thread -----------------------------------------------------------------

    def step(self) -> list[tuple[Stream, np.ndarray]]:
        """One chunk for every active stream: each stream with its new ids (a stream that reached
        its length is done and leaves). Empty when no stream is active."""
        self._boundary()
        rows = self._members
        if not rows:
            return []
        net, vocab = self._net, self._net.vocab_size
        k = min(self._chunk_now(len(rows), vocab), min(s.remaining for s in rows))
        noise = np.empty((k, vocab, len(rows)), dtype=np.float32)
        temps = np.array([s.spec.temperature for s in rows], dtype=np.float64)
        draw_noise([s.rng for s in rows], temps, noise)
        ids = np.empty((k, len(rows)), dtype=np.intp)
        started = time.perf_counter()
        net.advance(np.array([s._pending for s in rows], dtype=np.intp))
        self._sample(noise, ids, temps)
        self._timing = ((time.perf_counter() - started) / k, len(rows))
        out = []
        for r, stream in enumerate(rows):
            new = ids[:, r].astype(self._dtype)
            stream._pending = int(ids[-1, r])
            stream.generated += k
            if stream.remaining == 0:
                stream.done = True
            out.append((stream, new))
        return out

    def _chunk_now(self, rows: int, vocab: int) -> int:
        most = chunk_length(rows, vocab)
        if self._chunk is not None:
            return min(self._chunk, most)
        if self._timing is None:
            return min(FIRST_CHUNK, most)
        seconds, measured_rows = self._timing  # a wider batch steps slower: scale up, never down
        per_char = seconds * max(1.0, rows / measured_rows)
        return int(min(most, max(FIRST_CHUNK, ENTRY_WAIT_S / max(per_char, 1e-9))))

    def _sample(self, noise: np.ndarray, ids: np.ndarray, temps: np.ndarray) -> None:
        rows = self._members
        restrict = restriction([s.spec.top_k for s in rows], [s.spec.top_p for s in rows], temps, self._net.vocab_size)
        fused = getattr(self._net, "sample_chunk", None)  # the int8 net's compiled loop
        if fused is not None and restrict is None and self._observe is None:
            fused(noise, ids, True)
            return
        net, observe = self._net, self._observe
        step, logits = net.advance, net.logits
        scores = np.empty(logits.shape, dtype=np.float32)
        last = len(noise) - 1
        for k in range(len(noise)):
            if observe is not None:
                observe(list(rows), logits)
            np.add(logits, noise[k], out=scores)
            if restrict is not None:
                restrict(logits, scores)
            scores.argmax(0, ids[k])
            if k < last:
                step(ids[k])

    def _boundary(self) -> None:
        """Drop finished and leaving rows, let joined streams in."""
        with self._lock:
            joining, self._joining = self._joining, []
            for stream in self._members + joining:
                if stream._leaving:
                    stream.done = True
        keep = [r for r, s in enumerate(self._members) if not s.done]
        enter = [s for s in joining if not s.done]
        if len(keep) == len(self._members) and not enter:
            return
        old = self._net.state if self._members else None
        rows = [self._members[r] for r in keep] + enter
        self._members = rows
        if not rows:
            return
        state = []
        for layer in range(len(self._net.units)):
            parts: list[Any] = []
            if old is not None and keep:
                h, c = old[layer]
                parts.append((h[keep], c[keep]))
            for s in enter:
                assert s._warm is not None
                parts.append(s._warm[layer])
            state.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
        for s in enter:
            s._warm = None
        self._net.reset(len(rows))
        self._net.state = state
