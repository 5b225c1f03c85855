"""The light loader (no Keras) reads the same weights as Keras does, and refuses what it does not
know instead of skipping it."""

import json
import shutil
import zipfile

import numpy as np
import pytest

from shared.engine.inference.light import load_light_sampler
from shared.engine.inference.sample import load_sampler
from shared.engine.inference.temperature import next_char_distribution
from shared.engine.training.checkpoint import MODEL_FILE, CheckpointError
from tests.analysis_helpers import tiny_checkpoint, tiny_run


def test_the_light_sampler_equals_the_keras_one():
    light, keras_loaded = load_light_sampler(tiny_run()), load_sampler(tiny_run())
    assert light.net.units == keras_loaded.net.units and light.net.vocab_size == keras_loaded.net.vocab_size
    for mine, theirs in zip(light.net.matrices, keras_loaded.net.matrices, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert light.vocabulary.chars == keras_loaded.vocabulary.chars and light.epoch == keras_loaded.epoch
    a = next_char_distribution(light, "def decode(self", (0.5, 1.0))
    b = next_char_distribution(keras_loaded, "def decode(self", (0.5, 1.0))
    assert a == b


def _rewrite_config(folder, change):
    path = folder / MODEL_FILE
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    change(config["config"]["layers"])
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda layers: layers.append({"class_name": "Lambda", "config": {}}), "unexpected layer 'Lambda'"),
        (
            lambda layers: [x["config"].update(activation="relu") for x in layers if x["class_name"].endswith("LSTM")],
            "tanh",
        ),
    ],
)
def test_unknown_layers_and_activations_are_refused(tmp_path, change, message):
    folder = tmp_path / "epoch-0001"
    shutil.copytree(tiny_checkpoint(), folder)
    _rewrite_config(folder, change)
    with pytest.raises(CheckpointError, match=message):
        load_light_sampler(folder)
