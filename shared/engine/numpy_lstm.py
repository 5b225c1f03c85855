"""Inference of a trained charlstm model in plain numpy: the fast path for generation and evaluation.

`NumpyLSTM.from_model(model)` copies the weights of a model built by `model.build_model` (one-hot
input, stacked Keras LSTMs with tanh/sigmoid, Dense logits) into float32 arrays laid out for one
matrix-vector product per layer per character:

- State is column-major: one buffer `B` of shape (features, rows) holds, for every layer,
  [h_l ; 1] (a constant 1 row after each hidden state folds the biases into the products).
- Layer 0's input is one-hot, so `x @ W + b` is a row gather of the table W + b.
- Layer l >= 1 multiplies the contiguous slice [h_{l-1} ; 1 ; h_l] of `B` by the fused matrix
  [W^T | b | U^T] (shape 4u x (u_in + 1 + u)): one product per layer per step, no copies.
- The gate columns are reordered to (g, f, i, o) and the sigmoid gates' weights pre-scaled by 0.5
  (exact in binary floating point), so one `tanh` over all gates gives
  sigmoid(x) = 0.5 + 0.5 * tanh(x / 2) after one multiply-add over (f, i, o); the cell state sits
  next to the gates so that f*c and i*g are one multiply.

Every step works in preallocated buffers with `out=` arguments: 27 numpy calls per character for
three layers (29 with sampling), about 15 us of overhead per step on the 2-core reference machine.
The rest is the matrix products, which for one stream are bound by memory bandwidth: a 3 x 512
model reads 21 MB of float32 weights per character (about 0.4 ms per character there with 2 BLAS
threads). Several streams share each read (`rows`), so 16 samples cost about 4x one sample.
No Keras at import time: `from_model` imports it only to read weights. An instance holds its
streams' state: not for use from several threads at once.

Stateless models (trained on fixed windows from zero state) are evaluated as trained: every
prediction runs its window from zero state (`window_logits`), seq_len steps per character.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["NumpyLSTM", "softmax"]

_DT = np.float32


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
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
    i, f, c, o = (kernel[..., k * u:(k + 1) * u] for k in range(4))
    return np.concatenate([c, 0.5 * f, 0.5 * i, 0.5 * o], axis=-1)


class NumpyLSTM:
    """A stack of LSTM layers and a Dense output, run step by step for `rows` parallel streams.

    `lstm` is a list of Keras weight triples (kernel (in, 4u), recurrent_kernel (u, 4u),
    bias (4u,)), gate order i, f, c, o; `dense` is (kernel (u, V), bias (V,)). Layer 0's input is
    one-hot over the V characters.
    """

    def __init__(self, lstm, dense, *, stateful: bool = True, seq_len: int | None = None):
        if not lstm:
            raise ValueError("at least one LSTM layer is needed")
        wd, bd = (np.asarray(a, dtype=np.float64) for a in dense)
        self.vocab_size = int(wd.shape[1])
        self.units = tuple(int(np.shape(u)[0]) for _, u, _ in lstm)
        self.stateful = bool(stateful)
        self.seq_len = None if seq_len is None else int(seq_len)
        if not self.stateful and not self.seq_len:
            raise ValueError("a stateless model needs its window length (seq_len)")
        width_in = self.vocab_size
        self._w0 = None
        self._wt = []  # fused transposed matrices of layers >= 1
        for n, ((kernel, recurrent, bias), u) in enumerate(zip(lstm, self.units)):
            kernel, recurrent, bias = (np.asarray(a, dtype=np.float64) for a in (kernel, recurrent, bias))
            if kernel.shape != (width_in, 4 * u) or recurrent.shape != (u, 4 * u) or bias.shape != (4 * u,):
                raise ValueError(f"LSTM layer {n}: unexpected weight shapes "
                                 f"{kernel.shape}, {recurrent.shape}, {bias.shape}")
            if n == 0:
                # one-hot input: x @ W + b is row `id` of this table; U^T kept apart
                self._w0 = np.ascontiguousarray(_gates(kernel + bias, u), dtype=_DT)      # (V, 4u)
                self._u0t = np.ascontiguousarray(_gates(recurrent, u).T, dtype=_DT)     # (4u, u)
            else:
                fused = np.concatenate([kernel, bias[None, :], recurrent], axis=0)      # (in+1+u, 4u)
                self._wt.append(np.ascontiguousarray(_gates(fused, u).T, dtype=_DT))    # (4u, in+1+u)
            width_in = u
        if wd.shape != (width_in, self.vocab_size) or bd.shape != (self.vocab_size,):
            raise ValueError(f"Dense: unexpected weight shapes {wd.shape}, {bd.shape}")
        self._wdt = np.ascontiguousarray(np.concatenate([wd, bd[None, :]], axis=0).T, dtype=_DT)  # (V, u+1)
        # offsets of h_l in the state buffer: [h_0; 1; h_1; 1; ...]
        self._offsets = np.cumsum([0] + [u + 1 for u in self.units]).tolist()
        self.rows = 0
        self.reset(1)

    # --- construction from Keras ------------------------------------------------------------

    @classmethod
    def from_model(cls, model) -> "NumpyLSTM":
        """Copy the weights of a charlstm Keras model (stateful or stateless; any batch shape)."""
        import keras  # only here: the rest of this module runs without Keras

        lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
        denses = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        if not lstms or len(denses) != 1:
            raise ValueError("expected stacked LSTM layers followed by one Dense layer")
        for layer in lstms:
            cell = getattr(layer, "cell", layer)
            if (keras.activations.serialize(cell.activation) != "tanh"
                    or keras.activations.serialize(cell.recurrent_activation) != "sigmoid"
                    or not cell.use_bias):
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

    # --- state ------------------------------------------------------------------------------

    def reset(self, rows: int) -> None:
        """Zero state for `rows` parallel streams (reallocates the buffers when rows changes)."""
        rows = int(rows)
        if rows < 1:
            raise ValueError("rows must be >= 1")
        if rows != self.rows:
            self.rows = rows
            self._state = np.zeros((self._offsets[-1], rows), dtype=_DT)
            self._cells = [np.zeros((5 * u, rows), dtype=_DT) for u in self.units]  # [c; g; f; i; o]
            self._gather = np.empty((rows, 4 * self.units[0]), dtype=_DT)
            self._logits = np.empty((self.vocab_size, rows), dtype=_DT)
            self._step = self._make_step()
        self._state.fill(0.0)
        for off, u in zip(self._offsets[1:], self.units):
            self._state[off - 1] = 1.0
        for cell, u in zip(self._cells, self.units):
            cell[:u] = 0.0

    def get_state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Copies of (h, c) per layer, each (rows, units)."""
        return [(self._state[off:off + u].T.copy(), cell[:u].T.copy())
                for off, u, cell in zip(self._offsets, self.units, self._cells)]

    def set_state(self, state) -> None:
        """Set (h, c) per layer; arrays of shape (rows, units) or (units,) (broadcast to every row)."""
        if len(state) != len(self.units):
            raise ValueError(f"expected the state of {len(self.units)} layers")
        for (h, c), off, u, cell in zip(state, self._offsets, self.units, self._cells):
            h, c = (np.asarray(a, dtype=_DT) for a in (h, c))
            self._state[off:off + u] = h[:, None] if h.ndim == 1 else h.T
            cell[:u] = c[:, None] if c.ndim == 1 else c.T

    def broadcast_row(self, row: int, rows: int) -> None:
        """Resize to `rows` streams, each starting from the current state of stream `row`."""
        state = [(h[row], c[row]) for h, c in self.get_state()]
        self.reset(rows)
        self.set_state(state)

    # --- the hot loop -----------------------------------------------------------------------

    def _make_step(self):
        """A closure running one step for all rows in place; ids: int array (rows,).

        Reads h_{t-1} from the state buffer, writes h_t there; logits land in self._logits
        (V, rows) when `logits` is true."""
        matmul, add, mul, tanh = np.matmul, np.add, np.multiply, np.tanh
        half = _DT(0.5)
        state, offs = self._state, self._offsets
        layers = []
        for n, (u, cell) in enumerate(zip(self.units, self._cells)):
            x = state[offs[n]:offs[n] + u] if n == 0 else state[offs[n - 1]:offs[n] + u]
            w = self._u0t if n == 0 else self._wt[n - 1]
            layers.append((w, x, cell[u:], cell[2 * u:], cell[2 * u:4 * u], cell[:2 * u],
                           cell[:u], cell[u:2 * u], cell[4 * u:], state[offs[n]:offs[n] + u]))
        first, rest = layers[0], layers[1:]
        take, gather = self._w0.take, self._gather  # bound methods skip numpy's Python wrappers
        gather_t = gather.T
        wd, xd, out = self._wdt, state[offs[-2]:offs[-1]], self._logits

        def step(ids, logits=True):
            w, x, gates, fio, fi, cg, c, g, o, h = first
            matmul(w, x, out=gates)
            take(ids, 0, gather, "clip")
            add(gates, gather_t, out=gates)
            tanh(gates, out=gates)
            mul(fio, half, out=fio)
            add(fio, half, out=fio)
            mul(fi, cg, out=cg)     # [f*c ; i*g]
            add(c, g, out=c)        # c = f*c + i*g
            tanh(c, out=g)
            mul(o, g, out=h)        # h = o * tanh(c)
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

        return step

    def _ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim == 0:
            ids = ids.reshape(1)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError("character ids must be integers")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(f"character ids must lie in 0..{self.vocab_size - 1}")
        return ids.astype(np.intp, copy=False)

    def step(self, ids) -> np.ndarray:
        """Feed one character per row (ids: (rows,) or a scalar for every row); returns the
        logits of the next character, (rows, V), a new array."""
        ids = np.broadcast_to(self._ids(ids), (self.rows,))
        self._step(np.ascontiguousarray(ids))
        return self._logits.T.copy()

    def _sequence(self, ids) -> np.ndarray:
        ids = self._ids(ids)
        if ids.ndim == 1:
            ids = np.broadcast_to(ids[None, :], (self.rows, ids.shape[0]))
        if ids.ndim != 2 or ids.shape[0] != self.rows:
            raise ValueError(f"ids must be 1-D or ({self.rows}, T), not {ids.shape}")
        return np.ascontiguousarray(ids.T)  # (T, rows): one contiguous id vector per step

    def warmup(self, ids) -> np.ndarray:
        """Feed a sequence (1-D: the same ids for every row, or (rows, T)), advancing the state;
        returns the logits after its last character, (rows, V). An empty sequence changes nothing
        and returns None."""
        seq = self._sequence(ids)
        if len(seq) == 0:
            return None
        step = self._step
        for t in range(len(seq) - 1):
            step(seq[t], False)
        step(seq[-1])
        return self._logits.T.copy()

    def sequence_logits(self, ids) -> np.ndarray:
        """Feed a sequence like `warmup`; returns the logits after every character, (rows, T, V)."""
        seq = self._sequence(ids)
        out = np.empty((len(seq), self.vocab_size, self.rows), dtype=_DT)
        step, logits = self._step, self._logits
        for t in range(len(seq)):
            step(seq[t])
            out[t] = logits
        return out.transpose(2, 0, 1).copy()

    def window_logits(self, windows) -> np.ndarray:
        """Logits after running each row's window (rows, T) from zero state (what a stateless
        model computes); resets the state to `rows` = windows.shape[0] streams."""
        windows = self._ids(windows)
        if windows.ndim == 1:
            windows = windows[None, :]
        self.reset(windows.shape[0])
        return self.warmup(windows)

    @staticmethod
    def probabilities(logits, temperature: float = 1.0) -> np.ndarray:
        """Next-character probabilities p ∝ exp(logits / temperature), float64, same shape."""
        return softmax(logits, temperature)

    # --- evaluation -------------------------------------------------------------------------

    def cross_entropy(self, ids, window: int | None = None, batch: int = 256) -> float:
        """Mean nats per character of predicting the 1-D sequence `ids`.

        window None: state carried through the text from zero state, predicting ids[1:] (how a
        stateful model generates). window W: every target ids[W:] predicted from the W characters
        before it, each window from zero state (how a stateless model generates), `batch`
        windows at a time. Resets the state."""
        ids = self._ids(ids).reshape(-1)
        total, count = 0.0, 0
        if window is None:
            if len(ids) < 2:
                raise ValueError("need at least 2 characters")
            self.reset(1)
            chunk = 4096
            for start in range(0, len(ids) - 1, chunk):
                part = ids[start:min(start + chunk, len(ids) - 1)]
                logits = self.sequence_logits(part)[0]
                total += _nll(logits, ids[start + 1:start + 1 + len(part)])
                count += len(part)
        else:
            window = int(window)
            if window < 1 or len(ids) <= window:
                raise ValueError("need more characters than the window length")
            targets = np.arange(window, len(ids))
            for start in range(0, len(targets), batch):
                t = targets[start:start + batch]
                windows = ids[t[:, None] - window + np.arange(window)[None, :]]
                total += _nll(self.window_logits(windows), ids[t])
                count += len(t)
        return total / count


def _nll(logits: np.ndarray, targets: np.ndarray) -> float:
    """Sum over rows of -log softmax(logits)[target], in float64."""
    z = logits.astype(np.float64)
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    return float((lse - z[np.arange(len(targets)), targets]).sum())
