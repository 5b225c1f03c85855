"""Reduced-precision sampling: the fused LSTM of `numpy_lstm` with its weights stored in int8.

`QuantizedLSTM(lstm, dense, ...)` (Keras-format weights, as NumpyLSTM takes them) or
`QuantizedLSTM.from_model(model)` fuses the weights exactly as NumpyLSTM does (it builds one and
reads its public `matrices`), then quantizes each fused (out, in) matrix row by row: q = round(w / s)
in int8 with s = max|row| / 127 (the bias column is kept apart, in float32, so that a large bias
does not coarsen its row's weights). Layer 0's one-hot input table (V x 4u, a row gather) and the
state stay float32. It is built from the weights, not from a NumpyLSTM: the input table is private
to numpy_lstm.py.

One step of every layer is one call of a small kernel compiled by numba (`_step`): the int8 weights
are widened to float32 inside the dot products, which accumulate in float32, then scaled by the
row's scale; the cell updates use a vectorized rational tanh. A character of a 3 x 512 model reads
5.3 MB of weights instead of 21 MB, and the step costs one Python call instead of 27 numpy calls.
`sample_chunk` runs `sample.generate`'s stateful loop (Gumbel-max draw, then step) for a whole
chunk of characters in one call, so the Python overhead per character is gone.

The stepping API is NumpyLSTM's (`reset`, `advance`, `logits`, `state`, `broadcast_row`, `warmup`,
`sequence_logits`, `window_logits`, `clone`, ...), so `sample.generate` runs it unchanged.
`matrices` gives the dequantized matrices (what the kernel multiplies by).

The float32 `NumpyLSTM` stays the exact reference; this path is measured against it
(`benchmarks/sampling.py`, `tests/engine/test_lowp.py`: mean KL divergence of the next-character
distributions and bits per character over teacher-forced text).

Threads: the output rows of each product are shared between `threads` threads (numba's OpenMP or
workqueue pool; default 1). Two threads made one stream 1.1-2.4x faster than one on the 2-core
benchmark machine, but numba's pool spins after each product, which slows anything else the process runs
at the time (BLAS, TensorFlow) on a loaded machine: more than one thread is for a process that
only samples. Several samples share each read of the weights (`rows`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numba  # type: ignore[import-untyped,import-not-found,unused-ignore]
import numpy as np

from .numpy_lstm import Advance, NumpyLSTM

__all__ = ["QuantizedLSTM"]


_F32 = np.float32


# tanh as Eigen's float32 rational approximation (a few ulp on [-7.9, 7.9], +-1 beyond): plain
# arithmetic, so that the cell updates vectorize (a scalar libm tanh would cost a third of a step)
_CLAMP = 7.90531110763549805
_A = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
      -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)  # fmt: skip
_B = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)


@numba.njit(fastmath=True, error_model="numpy", cache=True, inline="always")
def _tanh(x):  # pragma: no cover
    x = min(max(x, _F32(-_CLAMP)), _F32(_CLAMP))
    x2 = x * x
    p = _F32(_A[6])
    p = p * x2 + _F32(_A[5])
    p = p * x2 + _F32(_A[4])
    p = p * x2 + _F32(_A[3])
    p = p * x2 + _F32(_A[2])
    p = p * x2 + _F32(_A[1])
    p = p * x2 + _F32(_A[0])
    d = _F32(_B[3])
    d = d * x2 + _F32(_B[2])
    d = d * x2 + _F32(_B[1])
    d = d * x2 + _F32(_B[0])
    return x * p / d


@numba.njit(fastmath=True, cache=True, nogil=True, parallel=True)
def _products(q, scales, biases, qo, so, n_out, n_in, xt, gates):  # pragma: no cover
    """gates[r, i] = scale_i * (q_i . xt[r]) + bias_i for the n_out rows of one int8 matrix (at q
    offset qo, scale/bias offset so), the output rows shared between the threads."""
    rows = xt.shape[0]
    if rows == 1:
        x0 = xt[0, :n_in]
        for i in numba.prange(n_out):
            qrow = q[qo + i * n_in : qo + (i + 1) * n_in]  # slices: no negative-index checks
            acc = _F32(0.0)
            for k in range(n_in):
                acc += _F32(qrow[k]) * x0[k]
            gates[0, i] = acc * scales[so + i] + biases[so + i]
        return
    blocks = n_out // 4
    for b in numba.prange(blocks + n_out - 4 * blocks):
        if b < blocks:  # 4 weight rows, widened once, each read against every stream
            i = 4 * b
            q4 = q[qo + i * n_in : qo + (i + 4) * n_in]
            wblock = np.empty((4, n_in), dtype=np.float32)
            w_a, w_b, w_c, w_d = wblock[0], wblock[1], wblock[2], wblock[3]
            for k in range(n_in):
                w_a[k] = _F32(q4[k])
                w_b[k] = _F32(q4[n_in + k])
                w_c[k] = _F32(q4[2 * n_in + k])
                w_d[k] = _F32(q4[3 * n_in + k])
            for r in range(rows):
                xr = xt[r, :n_in]
                a0 = _F32(0.0)
                a1 = _F32(0.0)
                a2 = _F32(0.0)
                a3 = _F32(0.0)
                for k in range(n_in):
                    x = xr[k]
                    a0 += w_a[k] * x
                    a1 += w_b[k] * x
                    a2 += w_c[k] * x
                    a3 += w_d[k] * x
                gates[r, i] = a0 * scales[so + i] + biases[so + i]
                gates[r, i + 1] = a1 * scales[so + i + 1] + biases[so + i + 1]
                gates[r, i + 2] = a2 * scales[so + i + 2] + biases[so + i + 2]
                gates[r, i + 3] = a3 * scales[so + i + 3] + biases[so + i + 3]
        else:  # the rows after the last block
            i = 4 * blocks + b - blocks
            qrow = q[qo + i * n_in : qo + (i + 1) * n_in]
            for r in range(rows):
                xr = xt[r, :n_in]
                acc = _F32(0.0)
                for k in range(n_in):
                    acc += _F32(qrow[k]) * xr[k]
                gates[r, i] = acc * scales[so + i] + biases[so + i]


@numba.njit(fastmath=True, error_model="numpy", cache=True, nogil=True)
def _step(
    ids, w0, q, scales, biases, meta, state, cells, xt, gates, logits, want_logits, products_only
):  # pragma: no cover
    """One character for every row (numba; the coverage tool cannot see inside).

    meta (M, 7) per matrix: q offset, scale/bias offset, n_out, n_in, first state row of its input,
    state row of the h it writes, row of its c in `cells` (the last matrix is the Dense output).
    gates (rows, 4u), xt (rows, n_in): row-major per stream, so that every inner loop is contiguous.
    products_only: the matrix products alone, state unchanged (benchmarks: a step's floor)."""
    rows = state.shape[1]
    vocab = w0.shape[0]
    m_count = meta.shape[0]
    for m in range(m_count):
        last = m == m_count - 1
        if last and not want_logits:
            break
        qo, so, n_out, n_in, xa = meta[m, 0], meta[m, 1], meta[m, 2], meta[m, 3], meta[m, 4]
        for r in range(rows):
            xr, x_col = xt[r, :n_in], state[xa : xa + n_in, r]
            for k in range(n_in):
                xr[k] = x_col[k]
        _products(q, scales, biases, qo, so, n_out, n_in, xt, gates)
        if last:
            for r in range(rows):
                for j in range(n_out):
                    logits[j, r] = gates[r, j]
            break
        if products_only:
            continue
        u = n_out // 4
        ho, co = meta[m, 5], meta[m, 6]
        for r in range(rows):
            z = gates[r, :n_out]
            if m == 0:
                table = w0[min(max(ids[r], 0), vocab - 1)]
                for j in range(n_out):
                    z[j] += table[j]
            zg, zf, zi, zo = z[:u], z[u : 2 * u], z[2 * u : 3 * u], z[3 * u : 4 * u]
            c_col, h_col = cells[co : co + u, r], state[ho : ho + u, r]  # strided (rows apart)
            cs = xt[r, :u]  # contiguous scratch (the inputs are spent): the cell loop vectorizes
            for j in range(u):
                cs[j] = c_col[j]
            for j in range(u):
                g = _tanh(zg[j])
                f = _F32(0.5) + _F32(0.5) * _tanh(zf[j])
                ig = _F32(0.5) + _F32(0.5) * _tanh(zi[j])
                o = _F32(0.5) + _F32(0.5) * _tanh(zo[j])
                c = f * cs[j] + ig * g
                cs[j] = c
                zg[j] = o * _tanh(c)
            for j in range(u):
                c_col[j] = cs[j]
                h_col[j] = zg[j]


@numba.njit(fastmath=True, error_model="numpy", cache=True, nogil=True)
def _sample_chunk(
    noise, ids, last_chunk, w0, q, scales, biases, meta, state, cells, xt, gates, logits
):  # pragma: no cover
    """`sample.generate`'s stateful chunk in one call: for each k, ids[k] = argmax over the
    vocabulary of logits + noise[k] (per row; the first maximum, as numpy's argmax), then a step on
    ids[k] (but after the very last character)."""
    steps, vocab, rows = noise.shape
    for k in range(steps):
        chosen = ids[k]
        for r in range(rows):
            best = logits[0, r] + noise[k, 0, r]
            arg = 0
            for v in range(1, vocab):
                score = logits[v, r] + noise[k, v, r]
                if score > best:
                    best = score
                    arg = v
            chosen[r] = arg
        if k < steps - 1 or not last_chunk:
            _step(chosen, w0, q, scales, biases, meta, state, cells, xt, gates, logits, True, False)


def _bias_columns(units: tuple[int, ...]) -> list[int | None]:
    """Per fused matrix, the column of its bias: none in layer 0's U^T (its bias is in the input
    table), u_in in [W^T | b | U^T], u in the output's [W^T | b]."""
    return [None, *units[:-1], units[-1]]


def _quantize(matrix: np.ndarray, bias_column: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output row: int8 q, float32 scale s (w ~ q * s) and the float32 bias (the column
    `bias_column`, set to 0 in q; zeros when there is none)."""
    w = np.array(matrix, dtype=np.float64)
    bias = np.zeros(w.shape[0])
    if bias_column is not None:
        bias = w[:, bias_column].copy()
        w[:, bias_column] = 0.0
    peak = np.abs(w).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0)
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(_F32), bias.astype(_F32)


class QuantizedLSTM:
    """The fused LSTM of a NumpyLSTM with int8 matrices (per-row float32 scales), stepped for
    `rows` parallel streams by one compiled kernel call per character (or per chunk of sampled
    characters: `sample_chunk`).

    The stepping API is NumpyLSTM's: `reset(rows)`, `rows`, `advance(ids, logits=True)`, `logits`
    (V, rows), `state` (get/set), `broadcast_row`, `hidden(layer)`, `cell(layer)`, `check_ids`,
    `step`, `warmup`, `sequence_logits`, `window_logits`, `clone()`, and the attributes
    `vocab_size`, `units`, `stateful`, `seq_len`. Build it from Keras-format weights as a NumpyLSTM
    (`QuantizedLSTM(lstm, dense, ...)`) or from a Keras model (`from_model`)."""

    precision = "int8"

    def __init__(self, lstm, dense, *, stateful: bool = True, seq_len: int | None = None, threads: int = 1) -> None:
        most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set by numba at import
        if not 1 <= int(threads) <= most:
            raise ValueError(f"threads must lie in 1..{most}, not {threads!r}")
        exact = NumpyLSTM(lstm, dense, stateful=stateful, seq_len=seq_len)  # validates and fuses
        self.threads = int(threads)
        self.vocab_size, self.units = exact.vocab_size, exact.units
        self.stateful, self.seq_len = exact.stateful, exact.seq_len
        self._table = _frozen(_input_table(lstm[0], exact.vocab_size), _F32)
        parts = [_quantize(w, b) for w, b in zip(exact.matrices, _bias_columns(self.units), strict=True)]
        del exact
        q_offsets = np.cumsum([0] + [p[0].size for p in parts])
        s_offsets = np.cumsum([0] + [p[0].shape[0] for p in parts])
        self._qw = _frozen(np.concatenate([p[0].reshape(-1) for p in parts]), np.int8)
        self._qscale = _frozen(np.concatenate([p[1] for p in parts]), _F32)
        self._qbias = _frozen(np.concatenate([p[2] for p in parts]), _F32)
        self._h_at = np.cumsum([0] + [u + 1 for u in self.units]).tolist()  # state: [h_0; 1; h_1; 1; ...]
        self._c_at = np.cumsum([0] + list(self.units)).tolist()
        layout = []
        for m, p in enumerate(parts):
            n_out, n_in = p[0].shape
            if m == 0:
                x_at, h_at, c_at = 0, 0, 0
            elif m < len(self.units):
                x_at, h_at, c_at = self._h_at[m - 1], self._h_at[m], self._c_at[m]
            else:
                x_at, h_at, c_at = self._h_at[-2], -1, -1
            layout.append((q_offsets[m], s_offsets[m], n_out, n_in, x_at, h_at, c_at))
        self._layout = _frozen(np.asarray(layout, dtype=np.int64), np.int64)
        self._shapes = [p[0].shape for p in parts]
        self._widest = max(p[0].shape[1] for p in parts)
        self._tallest = max(p[0].shape[0] for p in parts)
        self._n_rows = 0
        self.reset(1)

    @classmethod
    def from_model(cls, model, threads: int = 1) -> QuantizedLSTM:
        """The int8 net of a charlstm Keras model (validated as `NumpyLSTM.from_model` does)."""
        import keras

        exact = NumpyLSTM.from_model(model)
        lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
        dense = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dense))
        return cls(
            [tuple(np.asarray(w) for w in layer.get_weights()) for layer in lstms],
            tuple(np.asarray(w) for w in dense.get_weights()),
            stateful=exact.stateful,
            seq_len=exact.seq_len,
            threads=threads,
        )

    def clone(self) -> QuantizedLSTM:
        """A new instance over the same (read-only, shared) weights with its own state buffers, a
        copy of this one's state (one per thread)."""
        other = copy.copy(self)
        other._n_rows = 0
        other._alloc(self._n_rows)
        np.copyto(other._h_buf, self._h_buf)
        np.copyto(other._c_buf, self._c_buf)
        return other

    @property
    def matrices(self) -> list[np.ndarray]:
        """The dequantized matrices (q * s, the bias column restored), float32 (out, in), in the
        order of `NumpyLSTM.matrices`: what this net multiplies by."""
        out = []
        q_at = s_at = 0
        for (n_out, n_in), b in zip(self._shapes, _bias_columns(self.units), strict=True):
            q = self._qw[q_at : q_at + n_out * n_in].reshape(n_out, n_in).astype(_F32)
            w = q * self._qscale[s_at : s_at + n_out, None]
            if b is not None:
                w[:, b] = self._qbias[s_at : s_at + n_out]
            w.flags.writeable = False
            out.append(w)
            q_at, s_at = q_at + n_out * n_in, s_at + n_out
        return out

    @property
    def input_table(self) -> np.ndarray:
        """Layer 0's input product for every character (V, 4u), float32, read-only: the fused
        W + b rows, gates (g, f, i, o), sigmoid gates scaled by 0.5."""
        return self._table

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights one step reads (int8 matrices, scales, biases; not the input table)."""
        return int(self._qw.nbytes + self._qscale.nbytes + self._qbias.nbytes)

    # --- state ------------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return self._n_rows

    def reset(self, rows: int | None = None) -> None:
        """Zero state for `rows` streams (default: as many as now); a new row count reallocates
        (take `advance`, `logits` and the views again)."""
        rows = self._n_rows if rows is None else int(rows)
        if rows < 1:
            raise ValueError("rows must be >= 1")
        if rows != self._n_rows:
            self._alloc(rows)
        self._h_buf.fill(0.0)
        for off in self._h_at[1:]:
            self._h_buf[off - 1] = 1.0
        self._c_buf.fill(0.0)

    def _alloc(self, rows: int) -> None:
        self._n_rows = rows
        self._h_buf = np.zeros((self._h_at[-1], rows), dtype=_F32)
        self._c_buf = np.zeros((self._c_at[-1], rows), dtype=_F32)
        self._out = np.zeros((self.vocab_size, rows), dtype=_F32)
        self._out_view = _read_only(self._out)
        self._x_buf = np.zeros((rows, self._widest), dtype=_F32)
        self._g_buf = np.zeros((rows, self._tallest), dtype=_F32)
        self._h_views = [_read_only(self._h_buf[a : a + u].T) for a, u in zip(self._h_at, self.units, strict=False)]
        self._c_views = [_read_only(self._c_buf[a : a + u].T) for a, u in zip(self._c_at, self.units, strict=False)]
        args = (
            self._table, self._qw, self._qscale, self._qbias, self._layout, self._h_buf,
            self._c_buf, self._x_buf, self._g_buf, self._out,
        )  # fmt: skip
        self._args = args
        step, chunk, threads, set_threads = _step, _sample_chunk, self.threads, numba.set_num_threads

        def advance(ids, logits=True):
            set_threads(threads)  # per calling thread (numba keeps it thread-local); about 1 us
            step(ids, *args, logits, False)

        def sample_chunk(noise, ids, last_chunk):
            set_threads(threads)
            chunk(noise, ids, last_chunk, *args)

        self._advance_fn = advance
        self._chunk_fn = sample_chunk

    @property
    def state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Copies of (h, c) per layer, each (rows, units); set with (rows, units) or (units,)."""
        return [(h.copy(), c.copy()) for h, c in zip(self._h_views, self._c_views, strict=True)]

    @state.setter
    def state(self, state: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        if len(state) != len(self.units):
            raise ValueError(f"expected the state of {len(self.units)} layers")
        for (h, c), h_at, c_at, u in zip(state, self._h_at, self._c_at, self.units, strict=False):
            h, c = (np.asarray(a, dtype=_F32) for a in (h, c))
            self._h_buf[h_at : h_at + u] = h[:, None] if h.ndim == 1 else h.T
            self._c_buf[c_at : c_at + u] = c[:, None] if c.ndim == 1 else c.T

    def broadcast_row(self, row: int, rows: int) -> None:
        """Resize to `rows` streams, each starting from the current state of stream `row`."""
        state = [(h[row], c[row]) for h, c in self.state]
        self.reset(rows)
        self.state = state

    def hidden(self, layer: int) -> np.ndarray:
        return self._h_views[layer]

    def cell(self, layer: int) -> np.ndarray:
        return self._c_views[layer]

    @property
    def logits(self) -> np.ndarray:
        """The next character's logits after the last `advance` with logits: a read-only live view
        (V, rows)."""
        return self._out_view

    # --- stepping ---------------------------------------------------------------------------

    @property
    def advance(self) -> Advance:
        """`advance(ids, logits=True)`: one character per row (a C-contiguous np.intp array of
        shape (rows,), not checked: ids out of range are clipped), in place."""
        return self._advance_fn

    @property
    def sample_chunk(self):
        """`sample_chunk(noise (k, V, rows), ids (k, rows), last_chunk)`: `sample.generate`'s stateful
        chunk in one kernel call: ids[k] = argmax(logits + noise[k]), then a step on it (not after
        the very last character)."""
        return self._chunk_fn

    def check_ids(self, ids) -> np.ndarray:
        """`ids` as an np.intp array; ValueError unless they are integers in 0..V-1."""
        ids = np.asarray(ids)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError("character ids must be integers")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"character ids must lie in 0..{self.vocab_size - 1}")
        return ids.astype(np.intp, copy=False)

    def step(self, ids) -> np.ndarray:
        """Feed one character per row; returns the next character's logits (rows, V), a copy."""
        ids = np.broadcast_to(self.check_ids(ids), (self._n_rows,))
        self._advance_fn(np.ascontiguousarray(ids))
        return self._out.T.copy()

    def _by_step(self, ids) -> np.ndarray:
        ids = self.check_ids(ids)
        if ids.ndim == 1:
            ids = np.broadcast_to(ids[None, :], (self._n_rows, ids.shape[0]))
        if ids.ndim != 2 or ids.shape[0] != self._n_rows:
            raise ValueError(f"ids must be 1-D or ({self._n_rows}, T), not {ids.shape}")
        return np.ascontiguousarray(ids.T)

    def warmup(self, ids) -> np.ndarray | None:
        """Feed a sequence (1-D, or (rows, T)); the logits after its last character (rows, V), or
        None for an empty sequence."""
        seq = self._by_step(ids)
        if len(seq) == 0:
            return None
        for t in range(len(seq) - 1):
            self._advance_fn(seq[t], False)
        self._advance_fn(seq[-1])
        return self._out.T.copy()

    def sequence_logits(self, ids) -> np.ndarray:
        """Feed a sequence like `warmup`; the logits after every character, (rows, T, V)."""
        seq = self._by_step(ids)
        out = np.empty((len(seq), self.vocab_size, self._n_rows), dtype=_F32)
        for t in range(len(seq)):
            self._advance_fn(seq[t])
            out[t] = self._out
        return out.transpose(2, 0, 1).copy()

    def window_logits(self, windows) -> np.ndarray:
        """Logits after running each row's window (rows, T) from zero state, (rows, V)."""
        windows = self.check_ids(windows)
        if windows.ndim == 1:
            windows = windows[None, :]
        if windows.shape[1] == 0:
            raise ValueError("a window needs at least one character")
        self.reset(windows.shape[0])
        logits = self.warmup(windows)
        assert logits is not None
        return logits

    def products(self, steps: int) -> None:
        """Run the matrix products of `steps` steps and nothing else (the state is unchanged,
        `logits` overwritten): benchmarks time it as the floor of a step."""
        ids = np.zeros(self._n_rows, dtype=np.intp)
        numba.set_num_threads(self.threads)
        for _ in range(steps):
            _step(ids, *self._args, True, True)


def _input_table(layer0, vocab: int) -> np.ndarray:
    """Layer 0's fused input rows W + b (V, 4u) as NumpyLSTM lays them out, read through its public
    `matrices`: a throwaway net whose second layer is layer 0 exposes [W^T | b | U^T] of it."""
    kernel, recurrent, bias = (np.asarray(a, dtype=np.float64) for a in layer0)
    u = recurrent.shape[0]
    blank = (np.zeros((vocab, 4 * vocab)), np.zeros((vocab, 4 * vocab)), np.zeros(4 * vocab))
    probe = NumpyLSTM([blank, (kernel, recurrent, bias)], (np.zeros((u, vocab)), np.zeros(vocab)))
    fused = probe.matrices[1]  # (4u, V + 1 + u)
    return (fused[:, :vocab] + fused[:, vocab : vocab + 1]).T


def _frozen(array: np.ndarray, dtype) -> np.ndarray:
    out = np.ascontiguousarray(array, dtype=dtype)
    out.flags.writeable = False
    return out


def _read_only(view: np.ndarray) -> np.ndarray:
    out = view.view()
    out.flags.writeable = False
    return out
