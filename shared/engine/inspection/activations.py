"""Neuron activations over a text (the paper's figure 8): every cell of every layer, per character.

`record_activations(net, ids)` runs a clone of the network over the ids from zero state, one
character at a time, and records after each character the state of every unit of every layer, as
float16 (layers x chars x units): half the size of float32, plenty for colouring and correlation.

Which state: the cell state c by default (`kind="cell"`), as the paper's figure 8 and Karpathy et
al. colour: c is the LSTM's memory, and counters (bracket depth, indentation, position in a line)
show in it as values that rise and fall step by step, while h = o * tanh(c) is squashed and gated
by o, so a counter flickers or saturates there. `kind="hidden"` records h instead (what the next
layer and the output read). Pages colour c through tanh(c) (`colour_scale`), which maps it to -1..1
as the cell's own output nonlinearity does.

Stateless (windowed) models are run the same way, their state carried through the text.

`record_text(sampler, text)` reads a text as a seed (cleaned, transformed, unknown characters
dropped) and returns the characters the model actually read with their activations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..inference.numpy_lstm import NumpyLSTM
from ..inference.sample import Sampler, encode_seed

__all__ = ["Activations", "colour_scale", "record_activations", "record_text"]

Kind = Literal["cell", "hidden"]
_F16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class Activations:
    text: str  # the characters the model read, one per activation row
    kind: Kind
    values: np.ndarray  # float16, (layers, chars, units)

    @property
    def layers(self) -> int:
        return int(self.values.shape[0])

    @property
    def units(self) -> int:
        return int(self.values.shape[2])

    def unit(self, layer: int, unit: int) -> np.ndarray:
        """One cell's activation per character, float32."""
        return self.values[layer, :, unit].astype(np.float32)


def record_activations(net: NumpyLSTM, ids, kind: Kind = "cell") -> np.ndarray:
    """(layers, chars, units) float16: the `kind` state of every unit after each of `ids`, from zero
    state (the network's weights are used through a clone; `net` is not stepped). All layers must
    have the same width (every charlstm model has)."""
    if kind not in ("cell", "hidden"):
        raise ValueError("kind must be 'cell' or 'hidden'")
    if len(set(net.units)) != 1:
        raise ValueError("layers of different widths cannot be stacked")
    work = net.clone()
    work.reset(1)
    ids = work.check_ids(ids).reshape(-1)
    layers, units = len(work.units), work.units[0]
    out = np.empty((layers, len(ids), units), dtype=np.float16)
    views = [work.cell(n) if kind == "cell" else work.hidden(n) for n in range(layers)]
    advance = work.advance
    steps = np.ascontiguousarray(ids[:, None])  # one (1,) id vector per step
    for t in range(len(ids)):
        advance(steps[t], False)
        for n, view in enumerate(views):
            out[n, t] = view[0]  # float32 -> float16 on assignment
    np.clip(out, -_F16_MAX, _F16_MAX, out=out)  # values beyond float16 became inf
    return out


def record_text(sampler: Sampler, text: str, kind: Kind = "cell") -> Activations:
    """The activations over `text` as the model reads it (see the module docstring)."""
    ids = encode_seed(text, sampler.vocabulary, sampler.hyperparameters)
    return Activations(
        text=sampler.vocabulary.decode(ids), kind=kind, values=record_activations(sampler.net, ids, kind)
    )


def colour_scale(values: np.ndarray, kind: Kind = "cell") -> np.ndarray:
    """Activations mapped to -1..1 for colouring, float32: tanh for cell states, h as it is."""
    values = np.asarray(values, dtype=np.float32)
    return np.tanh(values) if kind == "cell" else np.clip(values, -1.0, 1.0)
