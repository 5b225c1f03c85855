"""One neuron analysis as plain data: the model's cell activations over a text, the per-character
features of the text, every cell's correlation with every feature, and the activations of the
cells worth looking at. The sampling worker stores it as JSON; the pages and the CLI's HTML report
draw it (services/web/report.py).

`analyze(sampler, text, top)` returns:

- `text`: the characters the model read (the text cleaned and transformed as its corpus was);
- `kind`, `layers`, `units`, `features`, `top` ({feature: [{layer, unit, correlation}]}, strongest
  first; only the features that vary over the text), `constant` ({feature: why it correlates with
  nothing}, e.g. "no brackets in this text") and `correlations` ([feature][layer][unit], 4
  decimals): `NeuronTable.to_dict`;
- `cells`: for every cell in some feature's top list, {layer, unit, values}: its activation per
  character through `activations.colour_scale` (-1..1) as integers -100..100 (`scale`: 100),
  which keeps a 20,000-character text's result at a few MB of JSON.

`held_out(corpus_text, chars)` is the default text: the last `chars` characters of the corpus
(cleaned), the end of the part training held out for validation, from a line where Python reads
from a clean start (so that its features are read in step from the first character): the first
top-level statement outside any string and bracket while that keeps at least half of the tail,
else the first such statement at any indentation, else the first line.
"""

from __future__ import annotations

import numpy as np

from ..data.corpus import clean
from ..inference.sample import Sampler
from .activations import colour_scale, record_text
from .neurons import discover
from .python_text import clean_line_starts, text_features

__all__ = ["SCALE", "analyze", "held_out"]

SCALE = 100
_KEPT = 0.5  # a top-level start is preferred while it keeps at least this part of the tail


def held_out(corpus_text: str, chars: int) -> str:
    """The tail of the corpus: its last `chars` characters, from a clean start (see the module
    docstring); the whole text when it has no more than `chars`."""
    text = clean(corpus_text)
    if len(text) <= chars:
        return text
    tail = text[-chars:]
    starts = clean_line_starts(tail)
    top_level = [i for i, indent in starts if indent == 0 and i <= len(tail) * (1 - _KEPT)]
    if top_level:
        return tail[top_level[0] :]
    if starts:
        return tail[starts[0][0] :]
    start = tail.find("\n")
    return tail[start + 1 :] if 0 <= start < len(tail) - 1 else tail


def analyze(sampler: Sampler, text: str, top: int = 10) -> dict:
    """The analysis of `text` under `sampler`'s model (see the module docstring). CorpusError (a
    ValueError) when the text has no character of the model's vocabulary, ValueError when fewer
    than 2 are left."""
    activations = record_text(sampler, text)
    table = discover(activations.values, text_features(activations.text))
    data = table.to_dict(top=top, full=True)
    chosen: list[tuple[int, int]] = []
    for listed in data["top"].values():
        for cell in listed:
            key = (cell["layer"], cell["unit"])
            if key not in chosen:
                chosen.append(key)
    cells = []
    for layer, unit in chosen:
        scaled = colour_scale(activations.unit(layer, unit), activations.kind)
        cells.append({"layer": layer, "unit": unit, "values": np.rint(scaled * SCALE).astype(int).tolist()})
    return {
        "text": activations.text,
        "kind": activations.kind,
        "scale": SCALE,
        "epoch": sampler.epoch,
        **data,
        "cells": cells,
    }
