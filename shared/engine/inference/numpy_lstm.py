"""Inference of a trained charlstm model in plain numpy: the fast path for generation and evaluation.

`NumpyLSTM.from_model(model)` copies the weights of a model built by `model.build_model` (one-hot
input, stacked Keras LSTMs with tanh/sigmoid, Dense logits) into float32 arrays laid out for one
matrix-vector product per layer per character:

- State is column-major: one buffer of shape (features, rows) holds, for every layer,
  [h_l ; 1] (a constant 1 row after each hidden state folds the biases into the products).
- Layer 0's input is one-hot, so `x @ W + b` is a row gather of the table W + b.
- Layer l >= 1 multiplies the contiguous slice [h_{l-1} ; 1 ; h_l] of the state by the fused matrix
  [W^T | b | U^T] (shape 4u x (u_in + 1 + u)): one product per layer per step, no copies.
- The gate columns are reordered to (g, f, i, o) and the sigmoid gates' weights pre-scaled by 0.5
  (exact in binary floating point), so one `tanh` over all gates gives
  sigmoid(x) = 0.5 + 0.5 * tanh(x / 2) after one multiply-add over (f, i, o); the cell state sits
  next to the gates so that f*c and i*g are one multiply.

The public stepping API: `reset(rows)`, `advance(ids)` (the unchecked hot loop, in place),
`logits` (V, rows), `state` (get/set, per layer (h, c)), `broadcast_row`, `hidden(layer)` and
`cell(layer)` views, `check_ids`, `matrices` (the fused weights, read-only) and `clone()`.

Every step works in preallocated buffers with `out=` arguments: 27 numpy calls per character for
three layers (29 with sampling), about 15 us of overhead per step on the 2-core reference machine.
The rest is the matrix products, which for one stream are bound by memory bandwidth: a 3 x 512
model reads 21 MB of float32 weights per character (about 0.4 ms per character there with 2 BLAS
threads). Several streams share each read (`rows`), so 16 samples cost about 4x one sample.
No Keras at import time: `from_model` imports it only to read weights.

Threads: the weights are read-only and shared; the state is not. One instance is for one thread at
a time; `clone()` gives another thread its own state over the same weights.

Stateless models (trained on fixed windows from zero state) are evaluated as trained: every
prediction runs its window from zero state (`window_logits`), seq_len steps per character.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Self

import numpy as np

__all__ = ["NumpyLSTM", "Stepper", "check_temperature", "softmax"]

_DT = np.float32

# advance(ids, logits=True): one step for every row, in place (see NumpyLSTM.advance)
Advance = Callable[..., None]


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """p ∝ exp(logits / temperature) along the last axis, in float64."""
    check_temperature(temperature)
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def check_temperature(temperature) -> float:
    t = float(temperature)
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"temperature must be a finite number > 0, not {temperature!r}")
    return t


def _gates(kernel: np.ndarray, n_units: int) -> np.ndarray:
    """Keras gate columns (i, f, c, o) -> (g=c, f, i, o), sigmoid gates scaled by 0.5."""
    u = n_units
    i, f, c, o = (kernel[..., k * u : (k + 1) * u] for k in range(4))
    return np.concatenate([c, 0.5 * f, 0.5 * i, 0.5 * o], axis=-1)


def _frozen(array: np.ndarray) -> np.ndarray:
    """A contiguous float32 copy that nobody can write to (shared between clones)."""
    out = np.ascontiguousarray(array, dtype=_DT)
    out.flags.writeable = False
    return out


def _read_only(view: np.ndarray) -> np.ndarray:
    view = view.view()
    view.flags.writeable = False
    return view


class Stepper:
    """The state and the stepping API of a fused LSTM net, over the layout both nets share: one
    state buffer (features, rows) holding [h_0 ; 1 ; h_1 ; 1 ; ...] (a constant 1 after each hidden
    state) and a cell state per layer. The one owner of `reset`, `state`, `broadcast_row`,
    `hidden`, `cell`, `logits`, `advance`, `check_ids`, `step`, `warmup`, `sequence_logits`,
    `window_logits`, `cross_entropy` and `clone`, for `NumpyLSTM` and `lowp.QuantizedLSTM`.

    A subclass sets `vocab_size`, `units`, `stateful`, `seq_len` and its weights, then calls
    `_start()`; it implements `_allocate_buffers(rows)` (its own buffers for `rows` streams; returns
    each layer's cell state as a writable (u, rows) view) and `_make_advance()` (the hot loop over
    `_state`, `_logits` and its buffers)."""

    vocab_size: int
    units: tuple[int, ...]
    stateful: bool
    seq_len: int | None

    def _start(self) -> None:
        # offsets of h_l in the state buffer: [h_0; 1; h_1; 1; ...]
        self._offsets = np.cumsum([0] + [u + 1 for u in self.units]).tolist()
        self._rows = 0
        self.reset(1)

    def _allocate_buffers(self, rows: int) -> list[np.ndarray]:
        raise NotImplementedError

    def _make_advance(self) -> Advance:
        raise NotImplementedError

    def clone(self) -> Self:
        """A new instance over the same (read-only, shared) weights with its own state buffers,
        a copy of this one's state: one loaded model serves several threads, one clone each."""
        twin = copy.copy(self)
        twin._rows = 0
        twin._allocate(self._rows)
        np.copyto(twin._state, self._state)
        for mine, theirs in zip(twin._c_live, self._c_live, strict=True):
            np.copyto(mine, theirs)
        return twin

    # --- state ------------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        """Parallel streams: the width of every state buffer."""
        return self._rows

    def reset(self, rows: int | None = None) -> None:
        """Zero state for `rows` parallel streams (default: as many as now).

        A different row count reallocates the buffers: the `advance` function and the `logits`,
        `hidden` and `cell` views taken before then belong to the old buffers; take them again."""
        rows = self._rows if rows is None else int(rows)
        if rows < 1:
            raise ValueError("rows must be >= 1")
        if rows != self._rows:
            self._allocate(rows)
        self._state.fill(0.0)
        for off in self._offsets[1:]:
            self._state[off - 1] = 1.0
        for cell in self._c_live:
            cell.fill(0.0)

    def _allocate(self, rows: int) -> None:
        self._rows = rows
        self._state = np.zeros((self._offsets[-1], rows), dtype=_DT)
        self._logits = np.zeros((self.vocab_size, rows), dtype=_DT)
        self._logits_view = _read_only(self._logits)
        self._hidden = [
            _read_only(self._state[off : off + u].T) for off, u in zip(self._offsets, self.units, strict=False)
        ]
        self._c_live = self._allocate_buffers(rows)
        self._cell = [_read_only(cell.T) for cell in self._c_live]
        self._advance = self._make_advance()

    @property
    def state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Copies of (h, c) per layer, each (rows, units). Set it with arrays of shape (rows, units)
        or (units,) (the same for every row)."""
        return [(h.copy(), c.copy()) for h, c in zip(self._hidden, self._cell, strict=True)]

    @state.setter
    def state(self, state: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        if len(state) != len(self.units):
            raise ValueError(f"expected the state of {len(self.units)} layers")
        for (h, c), off, u, cell in zip(state, self._offsets, self.units, self._c_live, strict=False):
            h, c = (np.asarray(a, dtype=_DT) for a in (h, c))
            self._state[off : off + u] = h[:, None] if h.ndim == 1 else h.T
            cell[:] = c[:, None] if c.ndim == 1 else c.T

    def broadcast_row(self, row: int, rows: int) -> None:
        """Resize to `rows` streams, each starting from the current state of stream `row`."""
        state = [(h[row], c[row]) for h, c in self.state]
        self.reset(rows)
        self.state = state

    def hidden(self, layer: int) -> np.ndarray:
        """Layer `layer`'s hidden state h, a read-only live view (rows, units)."""
        return self._hidden[layer]

    def cell(self, layer: int) -> np.ndarray:
        """Layer `layer`'s cell state c, a read-only live view (rows, units)."""
        return self._cell[layer]

    @property
    def logits(self) -> np.ndarray:
        """The next character's logits after the last `advance` with logits: a read-only live view
        (V, rows), column r for stream r."""
        return self._logits_view

    # --- the hot loop -----------------------------------------------------------------------

    @property
    def advance(self) -> Advance:
        """`advance(ids, logits=True)`: feed one character to every row, in place.

        ids: a C-contiguous np.intp array of shape (rows,), NOT checked (ids out of range are
        clipped): validate input with `check_ids`. Updates the state and, when `logits` is true,
        the `logits` buffer. Bind it once (`advance = net.advance`) before a loop; it stays valid
        until `reset` changes the row count."""
        return self._advance

    # --- checked convenience ----------------------------------------------------------------

    def check_ids(self, ids) -> np.ndarray:
        """`ids` as an np.intp array (a scalar becomes shape (1,)); ValueError unless they are
        integers in 0..V-1."""
        ids = np.asarray(ids)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError("character ids must be integers")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"character ids must lie in 0..{self.vocab_size - 1}")
        return ids.astype(np.intp, copy=False)

    def step(self, ids) -> np.ndarray:
        """Feed one character per row (ids: (rows,) or a scalar for every row); returns the
        logits of the next character, (rows, V), a new array."""
        ids = np.broadcast_to(self.check_ids(ids), (self._rows,))
        self._advance(np.ascontiguousarray(ids))
        return self._logits.T.copy()

    def _sequence(self, ids) -> np.ndarray:
        ids = self.check_ids(ids)
        if ids.ndim == 1:
            ids = np.broadcast_to(ids[None, :], (self._rows, ids.shape[0]))
        if ids.ndim != 2 or ids.shape[0] != self._rows:
            raise ValueError(f"ids must be 1-D or ({self._rows}, T), not {ids.shape}")
        return np.ascontiguousarray(ids.T)  # (T, rows): one contiguous id vector per step

    def warmup(self, ids) -> np.ndarray | None:
        """Feed a sequence (1-D: the same ids for every row, or (rows, T)), advancing the state;
        returns the logits after its last character, (rows, V). An empty sequence changes nothing
        and returns None."""
        seq = self._sequence(ids)
        if len(seq) == 0:
            return None
        advance = self._advance
        for t in range(len(seq) - 1):
            advance(seq[t], False)
        advance(seq[-1])
        return self._logits.T.copy()

    def sequence_logits(self, ids) -> np.ndarray:
        """Feed a sequence like `warmup`; returns the logits after every character, (rows, T, V)."""
        seq = self._sequence(ids)
        out = np.empty((len(seq), self.vocab_size, self._rows), dtype=_DT)
        advance, logits = self._advance, self._logits
        for t in range(len(seq)):
            advance(seq[t])
            out[t] = logits
        return out.transpose(2, 0, 1).copy()

    def window_logits(self, windows) -> np.ndarray:
        """Logits after running each row's window (rows, T) from zero state (what a stateless
        model computes), (rows, V); resets the state to `rows` = windows.shape[0] streams."""
        windows = self.check_ids(windows)
        if windows.ndim == 1:
            windows = windows[None, :]
        if windows.shape[1] == 0:
            raise ValueError("a window needs at least one character")
        self.reset(windows.shape[0])
        logits = self.warmup(windows)
        assert logits is not None
        return logits

    # --- evaluation -------------------------------------------------------------------------

    def cross_entropy(self, ids, window: int | None = None, batch: int = 256) -> float:
        """Mean nats per character of predicting the 1-D sequence `ids`.

        window None: state carried through the text from zero state, predicting ids[1:] (how a
        stateful model generates). window W: every target ids[W:] predicted from the W characters
        before it, each window from zero state (how a stateless model generates), `batch`
        windows at a time. Resets the state."""
        ids = self.check_ids(ids).reshape(-1)
        total, count = 0.0, 0
        if window is None:
            if len(ids) < 2:
                raise ValueError("need at least 2 characters")
            self.reset(1)
            chunk = 4096
            for start in range(0, len(ids) - 1, chunk):
                part = ids[start : min(start + chunk, len(ids) - 1)]
                logits = self.sequence_logits(part)[0]
                total += _nll(logits, ids[start + 1 : start + 1 + len(part)])
                count += len(part)
        else:
            window = int(window)
            if window < 1 or len(ids) <= window:
                raise ValueError("need more characters than the window length")
            targets = np.arange(window, len(ids))
            for start in range(0, len(targets), batch):
                t = targets[start : start + batch]
                windows = ids[t[:, None] - window + np.arange(window)[None, :]]
                total += _nll(self.window_logits(windows), ids[t])
                count += len(t)
        return total / count


class NumpyLSTM(Stepper):
    """A stack of LSTM layers and a Dense output, run step by step for `rows` parallel streams.

    `lstm` is a list of Keras weight triples (kernel (in, 4u), recurrent_kernel (u, 4u),
    bias (4u,)), gate order i, f, c, o; `dense` is (kernel (u, V), bias (V,)). Layer 0's input is
    one-hot over the V characters.

    Read-only attributes: `vocab_size` (V), `units` (per layer), `stateful`, `seq_len` (the
    training window; None for stateful models), `rows`.
    """

    def __init__(self, lstm, dense, *, stateful: bool = True, seq_len: int | None = None):
        if not lstm:
            raise ValueError("at least one LSTM layer is needed")
        # assembled in the weights' own precision: float32 checkpoints never get float64 copies (the
        # assembly only concatenates, scales by 0.5 and adds a bias: the same float32 result)
        given = [*(w for layer in lstm for w in layer), *dense]
        dt = np.result_type(*(np.asarray(w).dtype for w in given), _DT)
        wd, bd = (np.asarray(a, dtype=dt) for a in dense)
        self.vocab_size = int(wd.shape[1])
        self.units = tuple(int(np.shape(u)[0]) for _, u, _ in lstm)
        self.stateful = bool(stateful)
        self.seq_len = None if seq_len is None else int(seq_len)
        if not self.stateful and not self.seq_len:
            raise ValueError("a stateless model needs its window length (seq_len)")
        fused = []  # per layer: [W ; b ; U] with the gates reordered, (in + 1 + u, 4u)
        width_in = self.vocab_size
        for n, ((kernel, recurrent, bias), u) in enumerate(zip(lstm, self.units, strict=True)):
            kernel, recurrent, bias = (np.asarray(a, dtype=dt) for a in (kernel, recurrent, bias))
            if kernel.shape != (width_in, 4 * u) or recurrent.shape != (u, 4 * u) or bias.shape != (4 * u,):
                raise ValueError(
                    f"LSTM layer {n}: unexpected weight shapes {kernel.shape}, {recurrent.shape}, {bias.shape}"
                )
            fused.append(_gates(np.concatenate([kernel, bias[None, :], recurrent], axis=0), u))
            width_in = u
        if wd.shape != (width_in, self.vocab_size) or bd.shape != (self.vocab_size,):
            raise ValueError(f"Dense: unexpected weight shapes {wd.shape}, {bd.shape}")
        v = self.vocab_size
        # layer 0: one-hot input, so x @ W + b is row `id` of this table; U^T kept apart
        self._w0 = _frozen(fused[0][:v] + fused[0][v])  # (V, 4u)
        self._u0t = _frozen(fused[0][v + 1 :].T)  # (4u, u)
        self._wt = [_frozen(f.T) for f in fused[1:]]  # (4u, in + 1 + u) for layers >= 1
        self._wdt = _frozen(np.concatenate([wd, bd[None, :]], axis=0).T)  # (V, u + 1)
        self._start()

    # --- construction -----------------------------------------------------------------------

    @classmethod
    def from_model(cls, model) -> NumpyLSTM:
        """Copy the weights of a charlstm Keras model (stateful or stateless; any batch shape)."""
        import keras  # only here: the rest of this module runs without Keras

        lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
        denses = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        if not lstms or len(denses) != 1:
            raise ValueError("expected stacked LSTM layers followed by one Dense layer")
        for layer in lstms:
            cell = getattr(layer, "cell", layer)
            if (
                keras.activations.serialize(cell.activation) != "tanh"
                or keras.activations.serialize(cell.recurrent_activation) != "sigmoid"
                or not cell.use_bias
            ):
                raise ValueError(f"{layer.name}: only tanh/sigmoid LSTMs with biases are supported")
        dense = denses[0]
        if keras.activations.serialize(dense.activation) != "linear" or not dense.use_bias:
            raise ValueError("the Dense layer must output logits (linear, with bias)")
        shape = model.inputs[0].shape
        return cls(
            [tuple(np.asarray(w) for w in layer.get_weights()) for layer in lstms],
            tuple(np.asarray(w) for w in dense.get_weights()),
            stateful=bool(lstms[0].stateful),
            seq_len=None if len(shape) < 2 or shape[1] is None else int(shape[1]),
        )

    @property
    def matrices(self) -> list[np.ndarray]:
        """The fused float32 matrices of one step, in order, each (out, in) and read-only: layer 0's
        U^T (4u, u); then [W^T | b | U^T] (4u, u_in + 1 + u) of every further layer; then the
        output [W^T | b] (V, u + 1). Gate rows are ordered (g, f, i, o), the sigmoid gates' rows
        scaled by 0.5. Layer 0's input product is a row gather, not a matrix product."""
        return [self._u0t, *self._wt, self._wdt]

    def _allocate_buffers(self, rows: int) -> list[np.ndarray]:
        self._cells = [np.zeros((5 * u, rows), dtype=_DT) for u in self.units]  # [c; g; f; i; o]
        self._gather = np.empty((rows, 4 * self.units[0]), dtype=_DT)
        return [cell[:u] for cell, u in zip(self._cells, self.units, strict=True)]

    def _make_advance(self) -> Advance:
        matmul, add, mul, tanh = np.matmul, np.add, np.multiply, np.tanh
        half = _DT(0.5)
        state, offs = self._state, self._offsets
        layers = []
        for n, (u, cell) in enumerate(zip(self.units, self._cells, strict=True)):
            x = state[offs[n] : offs[n] + u] if n == 0 else state[offs[n - 1] : offs[n] + u]
            w = self._u0t if n == 0 else self._wt[n - 1]
            layers.append(
                (
                    w, x, cell[u:], cell[2 * u :], cell[2 * u : 4 * u], cell[: 2 * u],
                    cell[:u], cell[u : 2 * u], cell[4 * u :], state[offs[n] : offs[n] + u],
                )
            )  # fmt: skip
        first, rest = layers[0], layers[1:]
        take, gather = self._w0.take, self._gather  # bound methods skip numpy's Python wrappers
        gather_t = gather.T
        wd, xd, out = self._wdt, state[offs[-2] : offs[-1]], self._logits

        def advance(ids, logits=True):
            w, x, gates, fio, fi, cg, c, g, o, h = first
            matmul(w, x, out=gates)
            take(ids, 0, gather, "clip")
            add(gates, gather_t, out=gates)
            tanh(gates, out=gates)
            mul(fio, half, out=fio)
            add(fio, half, out=fio)
            mul(fi, cg, out=cg)  # [f*c ; i*g]
            add(c, g, out=c)  # c = f*c + i*g
            tanh(c, out=g)
            mul(o, g, out=h)  # h = o * tanh(c)
            for w, x, gates, fio, fi, cg, c, g, o, h in rest:
                matmul(w, x, out=gates)
                tanh(gates, out=gates)
                mul(fio, half, out=fio)
                add(fio, half, out=fio)
                mul(fi, cg, out=cg)
                add(c, g, out=c)
                tanh(c, out=g)
                mul(o, g, out=h)
            if logits:
                matmul(wd, xd, out=out)

        return advance


def _nll(logits: np.ndarray, targets: np.ndarray) -> float:
    """Sum over rows of -log softmax(logits)[target], in float64."""
    z = logits.astype(np.float64)
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    return float((lse - z[np.arange(len(targets)), targets]).sum())
