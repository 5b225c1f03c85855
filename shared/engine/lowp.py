"""Reduced-precision sampling: the fused LSTM of `numpy_lstm` with its weights stored in int8.

`QuantizedLSTM.from_net(net, precision="int8")` quantizes the fused (out, in) matrices of a
`NumpyLSTM` row by row: q = round(w / s) in int8 with s = max|row| / 127 per output row (the bias
column is kept apart, in float32, so that a large bias does not coarsen its row's weights). Layer
0's one-hot input table (V x 4u, a row gather) and the state stay float32.

One step of every layer is one call of a small kernel compiled by numba (`_step`): the int8 weights
are widened to float32 inside the dot products, which accumulate in float32, then scaled by the row's
scale. A character of a 3 x 512 model reads 5.3 MB of weights instead of 21 MB (it fits in the
last-level cache), and the step costs one Python call instead of 27 numpy calls.

The stepping API is NumpyLSTM's (it is a subclass: `reset`, `advance`, `logits`, `state`,
`broadcast_row`, `warmup`, `sequence_logits`, `cross_entropy`, `clone`), so `sample.generate` runs
it unchanged. `matrices` gives the dequantized matrices (what the kernel multiplies by).

The float32 `NumpyLSTM` stays the exact reference; this path is measured against it
(`benchmarks/sampling.py`, `tests/engine/test_lowp.py`: mean KL divergence of the next-character
distributions and bits per character over teacher-forced text).

The kernel runs on one thread (numba's parallel regions cost more than they save for one stream
on two cores); several samples share each read of the weights (`rows`).
"""

from __future__ import annotations

import numba  # type: ignore[import-untyped,import-not-found,unused-ignore]
import numpy as np

from .numpy_lstm import Advance, NumpyLSTM

__all__ = ["PRECISIONS", "QuantizedLSTM", "reduce"]

PRECISIONS = ("float32", "int8")  # "float32": the NumpyLSTM itself

_F32 = np.float32


# tanh as Eigen's float32 rational approximation (a few ulp on [-7.9, 7.9], +-1 beyond): plain
# arithmetic, so that the cell updates vectorize (a scalar libm tanh would cost a third of a step)
_CLAMP = 7.90531110763549805
_A = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
      -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)  # fmt: skip
_B = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)


@numba.njit(fastmath=True, cache=True, inline="always")
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


@numba.njit(fastmath=True, cache=True, nogil=True)
def _step(
    ids, w0, q, scales, biases, meta, state, cells, xt, wblock, gates, logits, want_logits, products_only
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
            xr = xt[r, :n_in]
            for k in range(n_in):
                xr[k] = state[xa + k, r]
        i = 0
        if rows > 1:  # 4 weight rows at a time, widened once, each read against every stream
            w_a, w_b, w_c, w_d = wblock[0, :n_in], wblock[1, :n_in], wblock[2, :n_in], wblock[3, :n_in]
            while i + 4 <= n_out:
                q4 = q[qo + i * n_in : qo + (i + 4) * n_in]
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
                i += 4
        while i < n_out:
            qrow = q[qo + i * n_in : qo + (i + 1) * n_in]  # slices: no negative-index checks
            for r in range(rows):
                xr = xt[r, :n_in]
                acc = _F32(0.0)
                for k in range(n_in):
                    acc += _F32(qrow[k]) * xr[k]
                gates[r, i] = acc * scales[so + i] + biases[so + i]
            i += 1
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
            for j in range(u):
                g = _tanh(z[j])
                f = _F32(0.5) + _F32(0.5) * _tanh(z[u + j])
                ig = _F32(0.5) + _F32(0.5) * _tanh(z[2 * u + j])
                o = _F32(0.5) + _F32(0.5) * _tanh(z[3 * u + j])
                c = f * cells[co + j, r] + ig * g
                cells[co + j, r] = c
                state[ho + j, r] = o * _tanh(c)


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


class QuantizedLSTM(NumpyLSTM):
    """A NumpyLSTM whose matrix products run on int8 weights with per-row float32 scales.

    Build it with `from_net` (or `reduce`). `precision` is "int8"."""

    precision = "int8"

    @classmethod
    def from_net(cls, net: NumpyLSTM, precision: str = "int8") -> QuantizedLSTM:
        """The reduced copy of `net` (its weights are read, not kept; `net` is unchanged), with
        zero state for as many rows as `net` has."""
        if precision != "int8":
            raise ValueError(f"unknown reduced precision {precision!r}: expected 'int8'")
        if isinstance(net, QuantizedLSTM):
            raise ValueError("the net is already reduced: quantize the float32 net")
        twin = cls.__new__(cls)
        twin.__dict__.update(net.__dict__)  # shapes, flags, the float32 input table and state layout
        twin._quantize_from(net)
        twin._rows = 0
        twin.reset(max(1, net.rows))
        return twin

    def _quantize_from(self, net: NumpyLSTM) -> None:
        mats = net.matrices  # U0^T, then [W^T | b | U^T] per further layer, then [Wd^T | bd]
        parts = [_quantize(w, b) for w, b in zip(mats, _bias_columns(self.units), strict=True)]
        q_offsets = np.cumsum([0] + [p[0].size for p in parts])
        s_offsets = np.cumsum([0] + [p[0].shape[0] for p in parts])
        self._q = _frozen(np.concatenate([p[0].reshape(-1) for p in parts]), np.int8)
        self._scales = _frozen(np.concatenate([p[1] for p in parts]), _F32)
        self._biases = _frozen(np.concatenate([p[2] for p in parts]), _F32)
        offs = self._offsets  # state rows: [h_0; 1; h_1; 1; ...]
        cell_offs = np.cumsum([0] + [5 * u for u in self.units]).tolist()
        meta = []
        for m, p in enumerate(parts):
            n_out, n_in = p[0].shape
            if m == 0:
                x_at, h_at, c_at = 0, offs[0], cell_offs[0]
            elif m < len(self.units):
                x_at, h_at, c_at = offs[m - 1], offs[m], cell_offs[m]
            else:
                x_at, h_at, c_at = offs[-2], -1, -1
            meta.append((q_offsets[m], s_offsets[m], n_out, n_in, x_at, h_at, c_at))
        self._meta = _frozen(np.asarray(meta, dtype=np.int64), np.int64)
        self._cell_offsets = cell_offs
        self._widest = max(p[0].shape[1] for p in parts)
        self._tallest = max(p[0].shape[0] for p in parts[:-1])
        self._shapes = [p[0].shape for p in parts]

    @property
    def matrices(self) -> list[np.ndarray]:
        """The dequantized matrices (q * s, the bias column restored), float32 (out, in), in the
        order of `NumpyLSTM.matrices`: what this net multiplies by."""
        out = []
        q_at = s_at = 0
        for (n_out, n_in), b in zip(self._shapes, _bias_columns(self.units), strict=True):
            q = self._q[q_at : q_at + n_out * n_in].reshape(n_out, n_in).astype(_F32)
            w = q * self._scales[s_at : s_at + n_out, None]
            if b is not None:
                w[:, b] = self._biases[s_at : s_at + n_out]
            w.flags.writeable = False
            out.append(w)
            q_at, s_at = q_at + n_out * n_in, s_at + n_out
        return out

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights one step reads (int8 matrices, scales, biases; not the input table)."""
        return int(self._q.nbytes + self._scales.nbytes + self._biases.nbytes)

    def _allocate(self, rows: int) -> None:
        super()._allocate(rows)
        # one cell buffer for all layers (the kernel takes one array); the views keep NumpyLSTM's
        # per-layer layout [c; g; f; i; o] (only c is used here)
        self._cell_buffer = np.zeros((self._cell_offsets[-1], rows), dtype=_F32)
        self._cells = [self._cell_buffer[a : a + 5 * u] for a, u in zip(self._cell_offsets, self.units, strict=False)]
        self._cell = [_read_only_t(cell[:u]) for cell, u in zip(self._cells, self.units, strict=True)]
        self._xt = np.zeros((rows, self._widest), dtype=_F32)
        self._wblock = np.zeros((4, self._widest), dtype=_F32)
        self._gates = np.zeros((rows, max(self._tallest, self.vocab_size)), dtype=_F32)
        self._advance = self._make_advance()

    def _make_advance(self) -> Advance:
        if not hasattr(self, "_q"):  # NumpyLSTM.__init__'s own allocation, before quantizing
            return super()._make_advance()
        if not hasattr(self, "_cell_buffer") or self._cell_buffer.shape[1] != self._rows:
            return super()._make_advance()  # replaced at the end of _allocate
        args = (
            self._w0, self._q, self._scales, self._biases, self._meta, self._state,
            self._cell_buffer, self._xt, self._wblock, self._gates, self._logits,
        )  # fmt: skip
        step = _step

        def advance(ids, logits=True):
            step(ids, *args, logits, False)

        return advance

    def products(self, steps: int) -> None:
        """Run the matrix products of `steps` steps and nothing else (no cell updates: the state is
        unchanged; `logits` is overwritten): benchmarks time it as the floor of a step."""
        ids = np.zeros(self._rows, dtype=np.intp)
        args = (
            self._w0, self._q, self._scales, self._biases, self._meta, self._state,
            self._cell_buffer, self._xt, self._wblock, self._gates, self._logits,
        )  # fmt: skip
        for _ in range(steps):
            _step(ids, *args, True, True)


def _frozen(array: np.ndarray, dtype) -> np.ndarray:
    out = np.ascontiguousarray(array, dtype=dtype)
    out.flags.writeable = False
    return out


def _read_only_t(view: np.ndarray) -> np.ndarray:
    out = view.T.view()
    out.flags.writeable = False
    return out


def reduce(net: NumpyLSTM, precision: str = "float32") -> NumpyLSTM:
    """`net` itself for "float32", else its reduced copy (`QuantizedLSTM.from_net`)."""
    if precision == "float32":
        return net
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    return QuantizedLSTM.from_net(net, precision)
