"""Automatic neuron discovery: per-character features with known values, and a planted cell that
counts brackets found first."""

import numpy as np
import pytest

from shared.engine.data.corpus import Vocabulary
from shared.engine.inference.numpy_lstm import NumpyLSTM
from shared.engine.inspection.activations import record_activations
from shared.engine.inspection.neurons import FEATURES, discover, text_features


def feature_string(text, name):
    return "".join(str(int(v)) for v in text_features(text)[name])


def test_features_of_a_hand_made_text():
    text = 'def f(a, b="(x"):\n    """Doc (\n    more"""  # c(\n    return [a,\n        b]\n'
    features = text_features(text)
    assert list(features) == list(FEATURES) and all(len(v) == len(text) for v in features.values())
    lines = text.split("\n")
    # per line, newline included: 'def f(a, b="(x"):', '    """Doc (', '    more"""  # c(',
    # '    return [a,', '        b]'
    assert feature_string(text, "bracket_depth") == (
        "00000" + "1" * 10 + "000" + "0" * 13 + "0" * 18 + "0" * 11 + "1" * 4 + "1" * 9 + "00"
    )  # the "(" in the string, the docstring and the comment do not count
    docstring = "0000" + "1" * 9 + "1" * 11 + "0" * 7
    assert feature_string(text, "in_string") == "0" * 11 + "1111000" + docstring + "0" * 26
    assert feature_string(text, "in_docstring") == "0" * 18 + docstring + "0" * 26
    comment_at = text.index("# c(")
    assert feature_string(text, "in_comment") == "0" * comment_at + "1111" + "0" * (len(text) - comment_at - 4)
    assert [features["indentation"][text.index(s)] for s in ("def", '"""', "return", "b]")] == [0, 1, 1, 2]
    assert features["column"][text.index("return")] == 4 and features["column"][len(lines[0])] == len(lines[0])
    starts = np.flatnonzero(features["line_start"]).tolist()
    assert starts == [0] + [i + 1 for i, ch in enumerate(text[:-1]) if ch == "\n"]
    after = feature_string(text, "after_keyword")
    assert after[3:5] == "11" and after.count("1") == 2 + 1  # " f" after def, " " after return


def planted_net(vocabulary, units=5, seed=1):
    """A 2-layer net with random weights except layer 0's unit 0, which counts open brackets
    exactly: input and forget gates saturated open, output gate closed, g = +1 for "(", -1 for ")",
    0 otherwise, so c(t) = c(t-1) + g(t)."""
    rng = np.random.default_rng(seed)
    v, u = len(vocabulary), units
    kernel, recurrent, bias = rng.normal(0, 1, (v, 4 * u)), rng.normal(0, 1, (u, 4 * u)), rng.normal(0, 1, 4 * u)
    gates = [0, u, 2 * u, 3 * u]  # unit 0's columns of the gates i, f, c, o (Keras order)
    kernel[:, gates] = 0.0
    recurrent[:, gates] = 0.0
    bias[gates] = [30.0, 30.0, 0.0, -30.0]
    kernel[vocabulary.encode("(")[0], 2 * u] = 30.0
    kernel[vocabulary.encode(")")[0], 2 * u] = -30.0
    second = (rng.normal(0, 1, (u, 4 * u)), rng.normal(0, 1, (u, 4 * u)), rng.normal(0, 1, 4 * u))
    return NumpyLSTM([(kernel, recurrent, bias), second], (rng.normal(0, 1, (u, v)), rng.normal(0, 1, v)))


def nested_text(length, seed=0):
    rng = np.random.default_rng(seed)
    out: list[str] = []
    depth = 0
    while len(out) < length:
        r = rng.random()
        if r < 0.15 or (r < 0.3 and depth == 0):
            out.append("(")
            depth += 1
        elif r < 0.3:
            out.append(")")
            depth -= 1
        else:
            out.append(rng.choice(list("ab \n")))
    return "".join(out)


def test_discovery_finds_the_planted_bracket_counter():
    vocabulary = Vocabulary("\n ()ab")
    text = nested_text(3000)
    activations = record_activations(planted_net(vocabulary), vocabulary.encode(text))
    assert np.array_equal(activations[0, :, 0], text_features(text)["bracket_depth"])  # exact counts
    table = discover(activations, text_features(text))
    best = table.top("bracket_depth", 3)
    assert (best[0].layer, best[0].unit) == (0, 0) and best[0].correlation > 0.999
    assert abs(best[1].correlation) < best[0].correlation
    # the table is the plain Pearson correlation, cell by cell
    features = text_features(text)
    for name in ("column", "line_start"):
        for layer, unit in ((0, 3), (1, 2)):
            expected = np.corrcoef(features[name], activations[layer, :, unit].astype(np.float64))[0, 1]
            assert table.correlations[table.features.index(name), layer, unit] == pytest.approx(expected, abs=1e-5)
    data = table.to_dict(top=2)
    assert data["top"]["bracket_depth"][0] == {"layer": 0, "unit": 0, "correlation": best[0].correlation}
    assert np.array(data["correlations"]).shape == (len(FEATURES), 2, 5)


def test_constant_features_correlate_zero_and_shapes_are_checked():
    activations = np.random.default_rng(0).normal(size=(1, 50, 3)).astype(np.float16)
    table = discover(activations, {"flat": np.ones(50), "ramp": np.arange(50)})
    assert np.all(table.correlations[0] == 0.0) and np.all(np.abs(table.correlations[1]) <= 1.0)
    with pytest.raises(ValueError):
        discover(activations, {"short": np.ones(49)})


CODE = 'def g(x):\n    """Return x doubled.\n\n    Twice.\n    """\n    # twice (x)\n    return [x, (x,\n        x)]\n'
DOCSTRING_TAIL = '    over (several) lines, it\'s prose.\n\n    More prose [here].\n    """\n'


def tracks_code(features, text, start, end=None):
    """The features of text[start:end] are those of that part read on its own."""
    alone = text_features(text[start:end])
    for name in ("bracket_depth", "in_string", "in_comment", "in_docstring"):
        np.testing.assert_array_equal(features[name][start:end], alone[name], err_msg=name)


def test_a_text_that_starts_inside_a_docstring_is_read_in_step():
    text = DOCSTRING_TAIL + CODE * 3
    features = text_features(text)
    body = len(DOCSTRING_TAIL)  # its closing quotes end the string; the newline after them is code
    assert features["in_string"][: body - 1].all() and features["in_docstring"][: body - 1].all()
    assert not features["bracket_depth"][:body].any() and not features["in_comment"][:body].any()
    tracks_code(features, text, body)
    assert features["bracket_depth"].max() == 2 and features["in_comment"].sum() == 3 * len("# twice (x)")


def test_one_stray_quote_costs_its_line_only():
    stray = '    x = 1  # an odd \'\n    y = """\n'  # an unterminated triple quote: read as a closing
    text = CODE + stray + CODE * 2
    features = text_features(text)
    after = len(CODE) + len(stray)
    tracks_code(features, text, after)
    tracks_code(features, text, 0, len(CODE))
    comment = text.index("# an odd")
    assert features["in_comment"][comment : comment + 9].all() and not features["in_string"][comment]


def test_a_closing_quote_after_prose_ends_the_string_the_text_started_in():
    text = '    the end of a docstring."""\n' + CODE
    features = text_features(text)
    assert features["in_docstring"][: text.index("\n")].all()
    tracks_code(features, text, text.index("\n") + 1)


def test_a_constant_feature_is_reported_with_its_reason_and_has_no_top_cells():
    text = "a b\nab a\n" * 20
    activations = np.random.default_rng(0).normal(size=(1, len(text), 3)).astype(np.float16)
    table = discover(activations, text_features(text))
    assert table.constant["bracket_depth"] == "no brackets in this text"
    assert table.constant["in_comment"] == "no comments in this text" and "column" not in table.constant
    assert table.top("bracket_depth") == []
    data = table.to_dict(top=2)
    assert "bracket_depth" not in data["top"] and data["constant"] == table.constant
    assert set(data["top"]) | set(data["constant"]) == set(FEATURES)
