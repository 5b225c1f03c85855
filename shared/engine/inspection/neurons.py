"""Automatic neuron discovery: which cells track which property of the text.

The features of the text (`text_features`, FEATURES) are read by python_text.py.

`discover(activations, features)` correlates every cell of every layer with every feature
(Pearson, over the characters): the sums are accumulated by matrix products over chunks of
characters (features x cells at once), never a loop over cells. `NeuronTable.top(feature, n)` lists
the cells with the largest |correlation|, signed. A feature constant over the text (no brackets in
it, no comments) correlates with nothing: `NeuronTable.constant` says why ({feature: reason}), and
such a feature has no top cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .python_text import FEATURES, text_features

__all__ = ["FEATURES", "NeuronTable", "TopCell", "constant_reason", "discover", "text_features"]

_CHUNK = 8192  # characters per product when correlating
_ABSENT = {  # why a feature that is 0 all through a text correlates with nothing
    "bracket_depth": "no brackets in this text",
    "in_string": "no strings in this text",
    "in_comment": "no comments in this text",
    "in_docstring": "no docstrings in this text",
    "indentation": "no indented lines in this text",
    "after_keyword": "no keywords in this text",
}


def constant_reason(feature: str, value: float) -> str:
    """Why `feature`, `value` at every character of a text, correlates with nothing."""
    if value == 0 and feature in _ABSENT:
        return _ABSENT[feature]
    return f"{feature.replace('_', ' ')} is {value:g} all through this text"


@dataclass(frozen=True)
class TopCell:
    layer: int
    unit: int
    correlation: float

    def to_dict(self) -> dict:
        return {"layer": self.layer, "unit": self.unit, "correlation": self.correlation}


@dataclass(frozen=True)
class NeuronTable:
    features: list[str]
    correlations: np.ndarray  # float32 (features, layers, units); 0 where a side is constant
    constant: dict[str, str] = field(default_factory=dict)  # {feature constant over the text: why}

    def top(self, feature: str, n: int = 10) -> list[TopCell]:
        """The n cells most correlated with `feature` (by |correlation|), strongest first; none for
        a feature constant over the text."""
        if feature in self.constant:
            return []
        table = self.correlations[self.features.index(feature)]
        flat = np.abs(table).ravel()
        best = np.argsort(-flat, kind="stable")[:n]
        units = table.shape[1]
        return [TopCell(int(k // units), int(k % units), float(table.flat[k])) for k in best]

    def to_dict(self, top: int = 10, full: bool = True) -> dict:
        """Plain data: the top cells per feature that varies over the text, why the others
        correlate with nothing (`constant`: {feature: reason}) and (when `full`) the whole
        table, as nested lists [feature][layer][unit] rounded to 4 decimals."""
        data: dict = {
            "features": self.features,
            "layers": int(self.correlations.shape[1]),
            "units": int(self.correlations.shape[2]),
            "top": {f: [c.to_dict() for c in self.top(f, top)] for f in self.features if f not in self.constant},
            "constant": dict(self.constant),
        }
        if full:
            data["correlations"] = np.round(self.correlations.astype(np.float64), 4).tolist()
        return data


def discover(activations: np.ndarray, features: Mapping[str, np.ndarray]) -> NeuronTable:
    """Pearson correlation of every cell (activations: (layers, chars, units)) with every feature
    (each (chars,)), over the characters. A constant cell or feature correlates 0; a constant
    feature is named in the table's `constant` with the reason."""
    layers, chars, units = activations.shape
    names = list(features)
    f = np.stack([np.asarray(features[k], dtype=np.float64) for k in names], axis=1)  # (chars, k)
    if f.shape[0] != chars:
        raise ValueError(f"features have {f.shape[0]} characters, activations {chars}")
    if chars < 2:
        raise ValueError("need at least 2 characters")
    f_raw, f = f, f - f.mean(axis=0)
    cells = layers * units
    sum_x = np.zeros(cells)
    sum_xx = np.zeros(cells)
    sum_fx = np.zeros((len(names), cells))
    for start in range(0, chars, _CHUNK):
        # (chunk, layers * units): the chunk's characters, every cell of every layer side by side
        x = activations[:, start : start + _CHUNK, :].transpose(1, 0, 2).reshape(-1, cells).astype(np.float64)
        sum_x += x.sum(axis=0)
        sum_xx += np.einsum("ij,ij->j", x, x)
        sum_fx += f[start : start + _CHUNK].T @ x
    # cov(f, x) = sum(f_c * x) / N with f centred; var(x) = E[x^2] - E[x]^2
    var_x = np.maximum(sum_xx / chars - (sum_x / chars) ** 2, 0.0)
    std_f = f.std(axis=0)
    still = f_raw.max(axis=0) == f_raw.min(axis=0)
    constant = {k: constant_reason(k, float(f_raw[0, n])) for n, k in enumerate(names) if still[n]}
    denom = std_f[:, None] * np.sqrt(var_x)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 1e-12, (sum_fx / chars) / denom, 0.0)
    corr = np.clip(corr, -1.0, 1.0).astype(np.float32).reshape(len(names), layers, units)
    return NeuronTable(features=names, correlations=corr, constant=constant)
