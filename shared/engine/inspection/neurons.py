"""Automatic neuron discovery: which cells track which property of the text.

`text_features(text)` computes, per character, properties of Python source (one float array each,
the value at a character describing the text up to and including it, as the activation recorded
after reading it does):

- `bracket_depth`: open ()[]{} brackets after this character, outside strings and comments
  (a closing bracket with none open is ignored).
- `in_string`: 1 inside a string literal, its quotes and prefix-less body included.
- `in_comment`: 1 from `#` (outside strings) to the end of the line, the newline excluded.
- `in_docstring`: 1 inside a triple-quoted string that opens as the first thing on its line.
- `indentation`: the indentation of the character's line, in levels of 4 columns (tabs as 4).
- `column`: the character's column in its line (0 for the first).
- `line_start`: 1 for the first character of every line.
- `after_keyword`: 1 for the spaces and the word that follow a Python keyword in code
  (`def name`, `return value`, `import os`), the keyword itself excluded.

`discover(activations, features)` correlates every cell of every layer with every feature
(Pearson, over the characters): the sums are accumulated by matrix products over chunks of
characters (features x cells at once), never a loop over cells. `NeuronTable.top(feature, n)` lists
the cells with the largest |correlation|, signed.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURES", "NeuronTable", "TopCell", "discover", "text_features"]

FEATURES = (
    "bracket_depth",
    "in_string",
    "in_comment",
    "in_docstring",
    "indentation",
    "column",
    "line_start",
    "after_keyword",
)
_OPEN, _CLOSE = "([{", ")]}"
_KEYWORDS = "|".join(sorted(keyword.kwlist, key=len, reverse=True))
_KEYWORD = re.compile(rf"\b(?:{_KEYWORDS})\b([ \t]+\w*)")
_CHUNK = 8192  # characters per product when correlating


def text_features(text: str) -> dict[str, np.ndarray]:
    """The per-character features of `text` (see the module docstring), float32 arrays of
    len(text), keyed in FEATURES order."""
    n = len(text)
    depth = np.zeros(n, dtype=np.float32)
    in_string = np.zeros(n, dtype=np.float32)
    in_comment = np.zeros(n, dtype=np.float32)
    in_docstring = np.zeros(n, dtype=np.float32)
    indentation = np.zeros(n, dtype=np.float32)
    column = np.zeros(n, dtype=np.float32)
    line_start = np.zeros(n, dtype=np.float32)
    level = 0
    quote = ""  # the open string's closing quote(s)
    doc = comment = closing = False
    skip = 0  # characters left of a multi-character string token (triple quote, escape)
    line_begin = 0
    line_indent = 0.0
    for i, ch in enumerate(text):
        if i == 0 or text[i - 1] == "\n":
            line_begin = i
            line_start[i] = 1.0
            end = text.find("\n", i)
            line = text[i : n if end < 0 else end].expandtabs(4)
            line_indent = (len(line) - len(line.lstrip(" "))) / 4.0
        column[i] = i - line_begin
        indentation[i] = line_indent
        if skip:
            skip -= 1
            in_string[i], in_docstring[i] = 1.0, float(doc)
            if not skip and closing:
                quote, closing = "", False
        elif quote:
            in_string[i], in_docstring[i] = 1.0, float(doc)
            if ch == "\\" and i + 1 < n:
                skip = 1
            elif text.startswith(quote, i):
                if len(quote) == 1:
                    quote = ""
                else:
                    skip, closing = 2, True
            elif ch == "\n" and len(quote) == 1:  # an unterminated one-line string ends here
                quote = ""
                in_string[i] = in_docstring[i] = 0.0
        elif comment:
            if ch == "\n":
                comment = False
            else:
                in_comment[i] = 1.0
        elif ch == "#":
            comment = True
            in_comment[i] = 1.0
        elif ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            doc = len(quote) == 3 and not text[line_begin:i].strip()
            skip = len(quote) - 1
            in_string[i], in_docstring[i] = 1.0, float(doc)
        elif ch in _OPEN:
            level += 1
        elif ch in _CLOSE and level > 0:
            level -= 1
        depth[i] = level
    after_keyword = np.zeros(n, dtype=np.float32)
    code = (in_string == 0) & (in_comment == 0)
    for match in _KEYWORD.finditer(text):
        if code[match.start()]:
            after_keyword[match.start(1) : match.end(1)] = 1.0
    return {
        "bracket_depth": depth,
        "in_string": in_string,
        "in_comment": in_comment,
        "in_docstring": in_docstring,
        "indentation": indentation,
        "column": column,
        "line_start": line_start,
        "after_keyword": after_keyword,
    }


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

    def top(self, feature: str, n: int = 10) -> list[TopCell]:
        """The n cells most correlated with `feature` (by |correlation|), strongest first."""
        table = self.correlations[self.features.index(feature)]
        flat = np.abs(table).ravel()
        best = np.argsort(-flat, kind="stable")[:n]
        units = table.shape[1]
        return [TopCell(int(k // units), int(k % units), float(table.flat[k])) for k in best]

    def to_dict(self, top: int = 10, full: bool = True) -> dict:
        """Plain data: the top cells per feature and (when `full`) the whole table, as nested
        lists [feature][layer][unit] rounded to 4 decimals."""
        data: dict = {
            "features": self.features,
            "layers": int(self.correlations.shape[1]),
            "units": int(self.correlations.shape[2]),
            "top": {f: [c.to_dict() for c in self.top(f, top)] for f in self.features},
        }
        if full:
            data["correlations"] = np.round(self.correlations.astype(np.float64), 4).tolist()
        return data


def discover(activations: np.ndarray, features: Mapping[str, np.ndarray]) -> NeuronTable:
    """Pearson correlation of every cell (activations: (layers, chars, units)) with every feature
    (each (chars,)), over the characters. A constant cell or feature correlates 0."""
    layers, chars, units = activations.shape
    names = list(features)
    f = np.stack([np.asarray(features[k], dtype=np.float64) for k in names], axis=1)  # (chars, k)
    if f.shape[0] != chars:
        raise ValueError(f"features have {f.shape[0]} characters, activations {chars}")
    if chars < 2:
        raise ValueError("need at least 2 characters")
    f = f - f.mean(axis=0)
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
    denom = std_f[:, None] * np.sqrt(var_x)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 1e-12, (sum_fx / chars) / denom, 0.0)
    corr = np.clip(corr, -1.0, 1.0).astype(np.float32).reshape(len(names), layers, units)
    return NeuronTable(features=names, correlations=corr)
