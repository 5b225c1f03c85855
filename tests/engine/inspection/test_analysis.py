"""One analysis as plain data: the held-out default text, and the result's parts agreeing with
each other (top cells, their activations, the correlation table)."""

import numpy as np

from shared.engine.inference.light import load_light_sampler
from shared.engine.inspection.activations import record_text
from shared.engine.inspection.analysis import SCALE, analyze, held_out
from tests.analysis_helpers import python_text, tiny_run


def test_held_out_is_the_tail_from_a_line_start():
    corpus = "".join(f"line {i}\n" for i in range(100))
    tail = held_out(corpus, 30)
    assert corpus.endswith(tail) and tail.startswith("line ") and len(tail) <= 30
    assert held_out("short\n", 100) == "short\n"


def test_analysis_parts_agree():
    sampler = load_light_sampler(tiny_run())
    text = python_text()[:800]
    result = analyze(sampler, text, top=3)
    assert result["text"] == text and result["scale"] == SCALE and result["epoch"] == 1
    assert len(result["features"]) == 8 and all(len(v) == 3 for v in result["top"].values())
    correlations = np.array(result["correlations"])
    assert correlations.shape == (8, 2, 16)
    cells = {(c["layer"], c["unit"]): c["values"] for c in result["cells"]}
    expected = {(c["layer"], c["unit"]) for cells in result["top"].values() for c in cells}
    assert set(cells) == expected  # each top cell once
    recorded = record_text(sampler, text)
    for (layer, unit), values in cells.items():
        assert values == np.rint(np.tanh(recorded.unit(layer, unit)) * SCALE).astype(int).tolist()
    for n, feature in enumerate(result["features"]):
        best = result["top"][feature][0]
        assert abs(abs(best["correlation"]) - np.abs(correlations[n]).max()) < 1e-4
