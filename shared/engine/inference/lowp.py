"""Reduced-precision sampling: the fused LSTM of `numpy_lstm` with int8 weights and int8 inputs.

`QuantizedLSTM(lstm, dense, ...)` (Keras-format weights, as NumpyLSTM takes them) or
`QuantizedLSTM.from_model(model)` fuses the weights exactly as NumpyLSTM does (it builds one and
reads its public `matrices`), then quantizes each fused (out, in) matrix row by row: q = round(w / s)
in int8 with s = max|row| / 127. The bias column is kept apart, in float32 (a large bias would
coarsen its row), and left out of q. Layer 0's one-hot input table (V x 4u, a row gather) and the
state stay float32.

Each step quantizes every product's input vector too (dynamic, per vector and stream: the h's of
the layer below and of this layer, scale max|x| / 127, stored as uint8 x + 128) and multiplies in
integers: int32 sums of uint8 x int8 (`_dot`), exact, so the order of summation does not matter;
then gates = (sum - 128 * rowsum(q)) * s_row * s_x + bias. Where the CPU has AVX-512 VNNI
(`VNNI`), `_dot` is one `vpdpbusd` per 64 weights (LLVM intrinsics through numba), 4 weight rows
against 1 or 4 streams at a time (each weight load serves every stream of the block); elsewhere
it is a plain loop with the same integer result. Rows are padded with zeros to a multiple of 64
and each matrix to a multiple of 4 rows. A character of a 3 x 512 model reads 5.2 MB of weights
instead of 21 MB. The cell updates use a vectorized rational tanh. `sample_chunk` runs
`sample.generate`'s stateful loop (Gumbel-max draw, then step) for a whole chunk of characters in
one call, so the Python overhead per character is gone.

The state and the stepping API are `numpy_lstm.Stepper`'s (`reset`, `advance`, `logits`, `state`,
`broadcast_row`, `warmup`, `sequence_logits`, `window_logits`, `clone`, ...), the same as
NumpyLSTM's, so `sample.generate` runs it unchanged. `matrices` gives the dequantized matrices.

The float32 `NumpyLSTM` stays the exact reference; this path is measured against it
(`benchmarks/sampling.py`, `tests/engine/inference/test_lowp.py`: mean KL divergence of the next-character
distributions and bits per character over teacher-forced text).

Threads: the output rows of each product are shared between `threads` threads (numba's OpenMP or
workqueue pool). The default is every core this process may use (`usable_cores`): a lone sample
gets the whole machine. `set_threads` changes a net's count between steps (a clone keeps its own),
so that a process stepping several nets at once divides its cores between them (`cores_each`).
numba's pool spins after each product, which slows anything else the process runs at the time
(BLAS, TensorFlow) on a loaded machine: more than one thread is for a process that only samples.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numba  # type: ignore[import-untyped,import-not-found,unused-ignore]
import numpy as np
from llvmlite import binding, ir  # type: ignore[import-untyped,import-not-found,unused-ignore]
from numba.core import cgutils  # type: ignore[import-untyped,import-not-found,unused-ignore]
from numba.extending import intrinsic  # type: ignore[import-untyped,import-not-found,unused-ignore]

from .numpy_lstm import Advance, NumpyLSTM, Stepper

__all__ = ["VNNI", "QuantizedLSTM", "cores_each", "usable_cores"]


_F32 = np.float32
_LANE = 64  # int8 weights per vpdpbusd; rows are padded to a multiple
_BLOCK = 4  # weight rows per kernel block; matrices are padded to a multiple
_ZERO = 128  # the uint8 inputs' zero point

# whether numba compiles for a CPU with AVX-512 VNNI (its default target is the host CPU)
_HOST = numba.config.CPU_NAME is None  # type: ignore[attr-defined]  # set by numba at import
VNNI = _HOST and "+avx512vnni" in binding.get_host_cpu_features().flatten().split(",")

_POOL = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # numba's pool size, set at import


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; where the OS has none, every core),
    at most numba's pool: the default kernel thread count of a QuantizedLSTM."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this OS (macOS, Windows)
        cores = os.cpu_count() or 1
    return max(1, min(cores, _POOL))


def cores_each(nets: int, cores: int | None = None) -> int:
    """Kernel threads for each of `nets` nets stepping at once in one process: its `cores`
    (default `usable_cores()`) divided evenly between them, at least one each."""
    return max(1, (usable_cores() if cores is None else int(cores)) // max(1, int(nets)))


def _checked_threads(threads: int | None) -> int:
    if threads is None:
        return usable_cores()
    if not 1 <= int(threads) <= _POOL:
        raise ValueError(f"threads must lie in 1..{_POOL}, not {threads!r}")
    return int(threads)


def _vnni_dot(streams: int):
    """An intrinsic: `_dot(q, qo, n, x, xo, xs)` -> the 4 * streams int32 sums q_r . x_c of the 4
    int8 weight rows q[qo + r n : qo + (r + 1) n] and the uint8 streams x[xo + c xs : ... + n]
    (n a multiple of 64), ordered c * 4 + r: one vpdpbusd per 64 weights and stream."""

    @intrinsic
    def dot(typingctx, q, qo, n, x, xo, xs):
        sig = numba.types.UniTuple(numba.types.int32, 4 * streams)(q, qo, n, x, xo, xs)

        def codegen(context, builder, signature, args):
            q_arr = context.make_array(signature.args[0])(context, builder, args[0])
            x_arr = context.make_array(signature.args[3])(context, builder, args[3])
            qo_, n_, xo_, xs_ = args[1], args[2], args[4], args[5]
            i8p, v16 = ir.IntType(8).as_pointer(), ir.VectorType(ir.IntType(32), 16)
            i32 = ir.IntType(32)
            dp = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(v16, [v16, v16, v16]), "llvm.x86.avx512.vpdpbusd.512"
            )
            total = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(i32, [v16]), "llvm.vector.reduce.add.v16i32"
            )
            q0 = builder.gep(builder.bitcast(q_arr.data, i8p), [qo_])
            x0 = builder.gep(builder.bitcast(x_arr.data, i8p), [xo_])
            w_rows = [builder.gep(q0, [builder.mul(n_, ir.Constant(n_.type, r))]) for r in range(4)]
            x_rows = [builder.gep(x0, [builder.mul(xs_, ir.Constant(xs_.type, c))]) for c in range(streams)]
            accs = [cgutils.alloca_once_value(builder, ir.Constant(v16, None)) for _ in range(4 * streams)]
            with cgutils.for_range(builder, builder.udiv(n_, ir.Constant(n_.type, _LANE))) as loop:
                at = builder.mul(loop.index, ir.Constant(n_.type, _LANE))
                ws = [builder.load(builder.bitcast(builder.gep(w, [at]), v16.as_pointer()), align=1) for w in w_rows]
                for c, xr in enumerate(x_rows):
                    xv = builder.load(builder.bitcast(builder.gep(xr, [at]), v16.as_pointer()), align=1)
                    for r, wv in enumerate(ws):
                        acc = accs[4 * c + r]
                        builder.store(builder.call(dp, [builder.load(acc), xv, wv]), acc)
            sums = [builder.call(total, [builder.load(acc)]) for acc in accs]
            return context.make_tuple(builder, signature.return_type, sums)

        return sig, codegen

    return dot


@numba.njit(cache=True, nogil=True, inline="always")
def _loop_dot1(q, qo, n, x, xo, xs):  # pragma: no cover
    """`_vnni_dot(1)`'s integer sums by a plain loop (any CPU)."""
    a0 = a1 = a2 = a3 = np.int32(0)
    for k in range(n):
        v = np.int32(x[xo + k])
        a0 += np.int32(q[qo + k]) * v
        a1 += np.int32(q[qo + n + k]) * v
        a2 += np.int32(q[qo + 2 * n + k]) * v
        a3 += np.int32(q[qo + 3 * n + k]) * v
    return a0, a1, a2, a3


@numba.njit(cache=True, nogil=True, inline="always")
def _loop_dot4(q, qo, n, x, xo, xs):  # pragma: no cover
    """`_vnni_dot(4)`'s integer sums by a plain loop (any CPU)."""
    s0 = _loop_dot1(q, qo, n, x, xo, xs)
    s1 = _loop_dot1(q, qo, n, x, xo + xs, xs)
    s2 = _loop_dot1(q, qo, n, x, xo + 2 * xs, xs)
    s3 = _loop_dot1(q, qo, n, x, xo + 3 * xs, xs)
    return s0 + s1 + s2 + s3


_dot1, _dot4 = (_vnni_dot(1), _vnni_dot(4)) if VNNI else (_loop_dot1, _loop_dot4)


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


# no contraction into fma nor reciprocals: the rounding is IEEE float32's, as numpy's (tests redo it),
# and the same in the serial and the parallel products (the compiler would contract them differently),
# so that a text does not depend on the kernel threads
_EXACT = {"nnan", "ninf", "nsz"}


@numba.njit(fastmath=_EXACT, error_model="numpy", cache=True, nogil=True)
def _quantize_inputs(state, xa, n_in, b, kp, xq, xscale):  # pragma: no cover
    """Every stream's input state[xa : xa + n_in, r] but its row b (the bias column's constant 1;
    b = n_in: none) as uint8 xq[r, :kp] = round(x / s) + 128 (then 128 up to kp), with the stream's
    scale s = max|x| / 127 in xscale[r]."""
    rows = state.shape[1]
    for r in range(rows):
        first, second = state[xa : xa + b, r], state[xa + b + 1 : xa + n_in, r]  # around the bias
        top = _F32(0.0)
        for k in range(len(first)):
            top = max(top, abs(first[k]))
        for k in range(len(second)):
            top = max(top, abs(second[k]))
        s = top / _F32(127.0) if top > 0 else _F32(1.0)
        xscale[r] = s
        inv = _F32(1.0) / s
        out = xq[r]  # + 128.5, truncated: round half up of x / s, + 128, in 1..255
        for k in range(len(first)):
            out[k] = np.uint8(np.int32(first[k] * inv + _F32(_ZERO + 0.5)))
        after = out[len(first) :]
        for k in range(len(second)):
            after[k] = np.uint8(np.int32(second[k] * inv + _F32(_ZERO + 0.5)))
        for k in range(len(first) + len(second), kp):
            out[k] = _ZERO


@numba.njit(fastmath=_EXACT, error_model="numpy", cache=True, nogil=True, inline="always")
def _block(q, scales, biases, rowsums, qo, so, blk, kp, xq, stride, xscale, gates):  # pragma: no cover
    """gates[r, i] = (q_i . xq[r] - 128 rowsum_i) * scale_i * xscale[r] + bias_i for the 4 rows i of
    block blk of one matrix (q at offset qo, kp int8 each; per-row values at offset so) and every
    stream r (xq flat, stream r at r * stride), 4 streams at a time."""
    rows = gates.shape[0]
    quads = rows // 4
    i = 4 * blk
    at = qo + i * kp
    for c in range(quads):
        sums = _dot4(q, at, kp, xq, 4 * c * stride, stride)
        for w in range(4):
            for j in range(4):
                row = so + i + j
                gates[4 * c + w, i + j] = (
                    _F32(sums[4 * w + j] - rowsums[row]) * (scales[row] * xscale[4 * c + w]) + biases[row]
                )
    for r in range(4 * quads, rows):
        one = _dot1(q, at, kp, xq, r * stride, stride)
        for j in range(4):
            row = so + i + j
            gates[r, i + j] = _F32(one[j] - rowsums[row]) * (scales[row] * xscale[r]) + biases[row]


@numba.njit(fastmath=_EXACT, error_model="numpy", cache=True, nogil=True, parallel=True)
def _products(q, scales, biases, rowsums, qo, so, blocks, kp, xq, xscale, gates):  # pragma: no cover
    """`_block` for the blocks of one matrix, shared between the threads."""
    rows, stride = xq.shape
    flat = xq.reshape(rows * stride)
    for blk in numba.prange(blocks):
        _block(q, scales, biases, rowsums, qo, so, blk, kp, flat, stride, xscale, gates)


@numba.njit(fastmath=_EXACT, error_model="numpy", cache=True, nogil=True)
def _products_serial(q, scales, biases, rowsums, qo, so, blocks, kp, xq, xscale, gates):  # pragma: no cover
    """`_products` in the calling thread (one thread: no parallel region to start, a few us each)."""
    rows, stride = xq.shape
    flat = xq.reshape(rows * stride)
    for blk in range(blocks):
        _block(q, scales, biases, rowsums, qo, so, blk, kp, flat, stride, xscale, gates)


@numba.njit(fastmath=True, error_model="numpy", cache=True, nogil=True)
def _step(
    ids, w0, q, scales, biases, rowsums, meta, state, cells, xq, xscale, gates, scratch, logits, want_logits,
    products_only, serial,
):  # pragma: no cover  # fmt: skip
    """One character for every row (numba; the coverage tool cannot see inside).

    meta (M, 10) per matrix: q offset, offset of its per-row values, n_out, blocks of 4 rows,
    padded input length, first state row of its input, its input rows, the bias column's index
    among them (n_in: none), state row of the h it writes, row of its c in `cells` (the last matrix
    is the Dense output). gates (rows, 4u): row-major per stream, so that every inner loop is
    contiguous. products_only: the products alone (with their input quantization), the state
    unchanged (benchmarks: a step's floor). serial: the products in this thread (one thread)."""
    rows = state.shape[1]
    vocab = w0.shape[0]
    m_count = meta.shape[0]
    for m in range(m_count):
        last = m == m_count - 1
        if last and not want_logits:
            break
        qo, so, n_out, blocks, kp = meta[m, 0], meta[m, 1], meta[m, 2], meta[m, 3], meta[m, 4]
        _quantize_inputs(state, meta[m, 5], meta[m, 6], meta[m, 7], kp, xq, xscale)
        if serial:  # an argument: numba.get_num_threads() here would keep the kernel out of the cache
            _products_serial(q, scales, biases, rowsums, qo, so, blocks, kp, xq, xscale, gates)
        else:
            _products(q, scales, biases, rowsums, qo, so, blocks, kp, xq, xscale, gates)
        if last:
            for r in range(rows):
                for j in range(n_out):
                    logits[j, r] = gates[r, j]
            break
        if products_only:
            continue
        u = n_out // 4
        ho, co = meta[m, 8], meta[m, 9]
        for r in range(rows):
            z = gates[r, :n_out]
            if m == 0:
                table = w0[min(max(ids[r], 0), vocab - 1)]
                for j in range(n_out):
                    z[j] += table[j]
            zg, zf, zi, zo = z[:u], z[u : 2 * u], z[2 * u : 3 * u], z[3 * u : 4 * u]
            c_col, h_col = cells[co : co + u, r], state[ho : ho + u, r]  # strided (rows apart)
            cs = scratch[r, :u]  # contiguous: the cell loop vectorizes
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
    noise, ids, last_chunk, w0, q, scales, biases, rowsums, meta, state, cells, xq, xscale, gates, scratch, logits,
    serial,
):  # pragma: no cover  # fmt: skip
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
            _step(
                chosen, w0, q, scales, biases, rowsums, meta, state, cells, xq, xscale, gates, scratch, logits,
                True, False, serial,
            )  # fmt: skip


def _bias_columns(units: tuple[int, ...]) -> list[int | None]:
    """Per fused matrix, the column of its bias: none in layer 0's U^T (its bias is in the input
    table), u_in in [W^T | b | U^T], u in the output's [W^T | b]."""
    return [None, *units[:-1], units[-1]]


def _quantize(matrix: np.ndarray, bias_column: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output row: int8 q without the bias column, float32 scale s (w ~ q * s) and the float32
    bias (the column `bias_column`; zeros when there is none)."""
    w = np.array(matrix, dtype=np.float64)
    bias = np.zeros(w.shape[0])
    if bias_column is not None:
        bias = w[:, bias_column].copy()
        w = np.delete(w, bias_column, axis=1)
    peak = np.abs(w).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0)
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(_F32), bias.astype(_F32)


def _padded(n: int, to: int) -> int:
    return -(-n // to) * to


class QuantizedLSTM(Stepper):
    """The fused LSTM of a NumpyLSTM with int8 matrices (per-row float32 scales) and int8 inputs
    (per-vector scales), stepped for `rows` parallel streams by one compiled kernel call per
    character (or per chunk of sampled characters: `sample_chunk`).

    The stepping API is `Stepper`'s, as NumpyLSTM's; the attributes `vocab_size`, `units`,
    `stateful`, `seq_len`. Build it from Keras-format weights as a NumpyLSTM
    (`QuantizedLSTM(lstm, dense, ...)`) or from a Keras model (`from_model`)."""

    precision = "int8"

    def __init__(
        self, lstm, dense, *, stateful: bool = True, seq_len: int | None = None, threads: int | None = None
    ) -> None:
        self._threads = _checked_threads(threads)  # None: every usable core (`usable_cores`)
        exact = NumpyLSTM(lstm, dense, stateful=stateful, seq_len=seq_len)  # validates and fuses
        self.vocab_size, self.units = exact.vocab_size, exact.units
        self.stateful, self.seq_len = exact.stateful, exact.seq_len
        self._table = _frozen(_input_table(lstm[0], exact.vocab_size), _F32)
        bias_columns = _bias_columns(self.units)
        n_ins = [w.shape[1] for w in exact.matrices]
        parts = [_quantize(w, b) for w, b in zip(exact.matrices, bias_columns, strict=True)]
        del exact
        self._shapes = [(q.shape[0], n_in) for (q, _, _), n_in in zip(parts, n_ins, strict=True)]
        padded = []  # q padded to whole blocks of 4 rows and 64 columns; scales 1, biases 0 there
        for q, scale, bias in parts:
            rows, cols = _padded(q.shape[0], _BLOCK), _padded(q.shape[1], _LANE)
            wide = np.zeros((rows, cols), dtype=np.int8)
            wide[: q.shape[0], : q.shape[1]] = q
            padded.append(
                (wide, np.pad(scale, (0, rows - len(scale)), constant_values=1), np.pad(bias, (0, rows - len(bias))))
            )
        q_offsets = np.cumsum([0] + [p[0].size for p in padded])
        s_offsets = np.cumsum([0] + [p[0].shape[0] for p in padded])
        self._qw = _frozen(np.concatenate([p[0].reshape(-1) for p in padded]), np.int8)
        self._qscale = _frozen(np.concatenate([p[1] for p in padded]), _F32)
        self._qbias = _frozen(np.concatenate([p[2] for p in padded]), _F32)
        self._qsum = _frozen(np.concatenate([_ZERO * p[0].astype(np.int32).sum(axis=1) for p in padded]), np.int32)
        h_at = np.cumsum([0] + [u + 1 for u in self.units]).tolist()  # the Stepper's state layout
        c_at = np.cumsum([0] + list(self.units)).tolist()
        layout = []
        for m, ((wide, _, _), n_in, b) in enumerate(zip(padded, n_ins, bias_columns, strict=True)):
            if m == 0:
                x_at, h, c = h_at[0], h_at[0], c_at[0]
            elif m < len(self.units):
                x_at, h, c = h_at[m - 1], h_at[m], c_at[m]
            else:
                x_at, h, c = h_at[-2], -1, -1
            n_out = self._shapes[m][0]
            bias_at = n_in if b is None else b
            layout.append(
                (q_offsets[m], s_offsets[m], n_out, wide.shape[0] // _BLOCK, wide.shape[1], x_at, n_in, bias_at, h, c)
            )
        self._layout = _frozen(np.asarray(layout, dtype=np.int64), np.int64)
        self._c_at = c_at
        self._widest = max(p[0].shape[1] for p in padded)
        self._tallest = max(p[0].shape[0] for p in padded)
        self._start()

    @classmethod
    def from_model(cls, model, threads: int | None = None) -> QuantizedLSTM:
        """The int8 net of a charlstm Keras model (validated as `NumpyLSTM.from_model` does);
        `threads` kernel threads (None: every usable core)."""
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

    @property
    def threads(self) -> int:
        """Kernel threads each step shares its products between (`set_threads` changes it)."""
        return self._threads

    def set_threads(self, threads: int | None) -> None:
        """Step with `threads` kernel threads from the next step on (None: every usable core).
        Cheap (no copy, no compile); only this net: a clone made before or after keeps its own."""
        self._threads = _checked_threads(threads)

    @property
    def matrices(self) -> list[np.ndarray]:
        """The dequantized weight matrices (q * s, the bias column restored), float32 (out, in), in
        the order of `NumpyLSTM.matrices` (the kernel multiplies them by quantized inputs)."""
        out = []
        for m, ((n_out, n_in), b) in enumerate(zip(self._shapes, _bias_columns(self.units), strict=True)):
            q_at, s_at, _, blocks, kp = (int(v) for v in self._layout[m, :5])
            q = self._qw[q_at : q_at + blocks * _BLOCK * kp].reshape(-1, kp)[:n_out, : n_in - (b is not None)]
            w = q.astype(_F32) * self._qscale[s_at : s_at + n_out, None]
            if b is not None:
                w = np.insert(w, b, self._qbias[s_at : s_at + n_out], axis=1)
            out.append(w)
        return out

    @property
    def input_table(self) -> np.ndarray:
        """Layer 0's input product for every character (V, 4u), float32, read-only: the fused
        W + b rows, gates (g, f, i, o), sigmoid gates scaled by 0.5."""
        return self._table

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights one step reads (int8 matrices with their padding, scales, biases, row
        sums; not the input table)."""
        return int(self._qw.nbytes + self._qscale.nbytes + self._qbias.nbytes + self._qsum.nbytes)

    # --- stepping ---------------------------------------------------------------------------

    def _allocate_buffers(self, rows: int) -> list[np.ndarray]:
        self._c_buf = np.zeros((self._c_at[-1], rows), dtype=_F32)
        self._xq = np.zeros((rows, self._widest), dtype=np.uint8)
        self._xscale = np.zeros(rows, dtype=_F32)
        self._gates = np.zeros((rows, self._tallest), dtype=_F32)
        self._scratch = np.zeros((rows, max(self.units)), dtype=_F32)
        return [self._c_buf[a : a + u] for a, u in zip(self._c_at, self.units, strict=False)]

    def _kernel_args(self):
        return (
            self._table, self._qw, self._qscale, self._qbias, self._qsum, self._layout, self._state,
            self._c_buf, self._xq, self._xscale, self._gates, self._scratch, self._logits,
        )  # fmt: skip

    def _make_advance(self) -> Advance:
        args = self._kernel_args()
        step: Callable[..., None] = _step  # typed loosely: mypy cannot count `*args`
        chunk: Callable[..., None] = _sample_chunk
        set_threads = numba.set_num_threads  # self._threads is read at every call: `set_threads` takes effect at once

        def advance(ids, logits=True):
            threads = self._threads
            set_threads(threads)  # per calling thread (numba keeps it thread-local); about 1 us
            step(ids, *args, logits, False, threads == 1)

        def sample_chunk(noise, ids, last_chunk):
            threads = self._threads
            set_threads(threads)
            chunk(noise, ids, last_chunk, *args, threads == 1)

        self._chunk_fn, self._advance_kernel = sample_chunk, step
        return advance

    @property
    def sample_chunk(self):
        """`sample_chunk(noise (k, V, rows), ids (k, rows), last_chunk)`: `sample.generate`'s stateful
        chunk in one kernel call: ids[k] = argmax(logits + noise[k]), then a step on it (not after
        the very last character)."""
        return self._chunk_fn

    def products(self, steps: int) -> None:
        """Run the matrix products of `steps` steps (with their input quantization) and nothing
        else (the state is unchanged, `logits` overwritten): benchmarks time it as a step's floor."""
        ids = np.zeros(self._rows, dtype=np.intp)
        numba.set_num_threads(self.threads)
        args, step = self._kernel_args(), self._advance_kernel
        for _ in range(steps):
            step(ids, *args, True, True, self.threads == 1)


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
