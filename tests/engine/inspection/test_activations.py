"""Neuron activations over a text: every unit of every layer after each character, float16."""

import numpy as np
import pytest

from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import Vocabulary
from shared.engine.inference.numpy_lstm import NumpyLSTM
from shared.engine.inference.sample import Sampler
from shared.engine.inspection.activations import colour_scale, record_activations, record_text

VOCABULARY = Vocabulary("\n ()abc")


def random_net(layers=2, units=6, seed=0):
    rng = np.random.default_rng(seed)
    v, lstm, width = len(VOCABULARY), [], len(VOCABULARY)
    for _ in range(layers):
        lstm.append(
            (rng.normal(0, 1, (width, 4 * units)), rng.normal(0, 1, (units, 4 * units)), rng.normal(0, 1, 4 * units))
        )
        width = units
    return NumpyLSTM(lstm, (rng.normal(0, 1, (units, v)), rng.normal(0, 1, v)))


def test_records_every_layers_state_after_each_character():
    net = random_net()
    ids = VOCABULARY.encode("(ab c)\n((a))\n")
    cells = record_activations(net, ids)
    hidden = record_activations(net, ids, kind="hidden")
    assert cells.dtype == np.float16 and cells.shape == (2, len(ids), 6) and hidden.shape == cells.shape
    reference = net.clone()
    reference.reset(1)
    for t, i in enumerate(ids):
        reference.step(i)
        for layer in range(2):
            np.testing.assert_allclose(cells[layer, t], reference.cell(layer)[0], rtol=2e-3, atol=1e-3)
            np.testing.assert_allclose(hidden[layer, t], reference.hidden(layer)[0], rtol=2e-3, atol=1e-3)
    assert net.rows == 1 and all(np.abs(c).sum() == 0 for _, c in net.state)  # the template is not stepped
    with pytest.raises(ValueError):
        record_activations(net, ids, kind="gates")  # type: ignore[arg-type]


def test_record_text_reads_the_text_as_a_seed():
    net = random_net(layers=1)
    sampler = Sampler(net=net, vocabulary=VOCABULARY, hyperparameters=Hyperparameters(layers=1, units=6),
                      warmup_text="a", epoch=1)  # fmt: skip
    result = record_text(sampler, "(aXb)\r\nc")  # X is dropped, \r\n becomes \n
    assert result.text == "(ab)\nc" and result.kind == "cell" and (result.layers, result.units) == (1, 6)
    np.testing.assert_array_equal(result.values, record_activations(net, VOCABULARY.encode("(ab)\nc")))
    assert result.unit(0, 2).dtype == np.float32 and result.unit(0, 2).shape == (6,)
    scaled = colour_scale(result.values)
    assert np.all(np.abs(scaled) <= 1.0)
    np.testing.assert_allclose(scaled, np.tanh(result.values.astype(np.float32)), rtol=1e-6)
