"""A checkpoint's sampling model read without Keras or TensorFlow: for processes that must stay
light (the web app answers the temperature chart with it, see services/api/nextchar.py).

`load_light_sampler(folder)` reads `checkpoint.json` and the weights inside `model.keras` (a zip
whose `model.weights.h5` Keras writes with one group per layer, named after the layer's class in
the model's order: `lstm`, `lstm_1`, ..., `dense`), checks the architecture against the archive's
`config.json` (stacked tanh/sigmoid LSTMs with biases, one linear Dense), and builds the same
`Sampler` as `sample.load_sampler` (tests/engine/inference/test_light.py compares them). Only float arrays
are read from the HDF5 file (h5py, which Keras itself depends on): nothing is executed.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..config import Hyperparameters
from ..data.corpus import Vocabulary
from ..training.checkpoint import MODEL_FILE, CheckpointError, read_meta, resolve
from .numpy_lstm import NumpyLSTM
from .sample import Sampler

__all__ = ["load_light_sampler"]

WEIGHTS_FILE = "model.weights.h5"
CONFIG_FILE = "config.json"


def _layers(config: dict) -> list[dict]:
    inner = config.get("config", {})
    return [layer for layer in inner.get("layers", []) if isinstance(layer, dict)]


LSTM_LAYERS = {"LSTM", "StatefulLSTM"}  # Keras's, and model.StatefulLSTM (checkpoints since the backend matrix)
KNOWN_LAYERS = {"InputLayer", "OneHot", "Dropout", "Dense"} | LSTM_LAYERS  # what model.build_model makes


def _check(config: dict) -> int:
    """The number of LSTM layers, after checking the architecture (CheckpointError if unusual:
    a layer build_model does not make, such as a Lambda, would be skipped here, not run)."""
    lstms = dense = 0
    for layer in _layers(config):
        kind, cfg = layer.get("class_name"), layer.get("config", {})
        if kind not in KNOWN_LAYERS:
            raise CheckpointError(f"unexpected layer {kind!r}: only charlstm's own models are read")
        if kind in LSTM_LAYERS:
            if (
                cfg.get("activation") != "tanh"
                or cfg.get("recurrent_activation") != "sigmoid"
                or not cfg.get("use_bias", True)
            ):
                raise CheckpointError("only tanh/sigmoid LSTMs with biases are supported")
            lstms += 1
        elif kind == "Dense":
            if cfg.get("activation") != "linear" or not cfg.get("use_bias", True):
                raise CheckpointError("the Dense layer must output logits (linear, with bias)")
            dense += 1
    if not lstms or dense != 1:
        raise CheckpointError("expected stacked LSTM layers followed by one Dense layer")
    return lstms


def _name(prefix: str, k: int) -> str:
    return prefix if k == 0 else f"{prefix}_{k}"


def load_light_sampler(path: Path | str) -> Sampler:
    """The float32 Sampler of a checkpoint folder (or a run folder's best one), without Keras."""
    import h5py

    folder = resolve(Path(path))
    meta = read_meta(folder)
    try:
        with zipfile.ZipFile(folder / MODEL_FILE) as archive:
            config = json.loads(archive.read(CONFIG_FILE))
            weights = archive.read(WEIGHTS_FILE)
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{folder}: cannot read {MODEL_FILE} ({exc})") from None
    count = _check(config)
    try:
        with h5py.File(io.BytesIO(weights), "r") as h5:
            layers = h5["layers"]
            # saved under the class's snake-case name: lstm, lstm_1 (Keras's) or stateful_lstm, ...
            prefix = "stateful_lstm" if "stateful_lstm" in layers else "lstm"
            lstm = [
                tuple(np.asarray(layers[_name(prefix, k)]["cell"]["vars"][str(v)]) for v in range(3))
                for k in range(count)
            ]
            dense = tuple(np.asarray(layers["dense"]["vars"][str(v)]) for v in range(2))
    except (OSError, KeyError) as exc:
        raise CheckpointError(f"{folder}: unexpected weights in {MODEL_FILE} ({exc})") from None
    hyperparameters = Hyperparameters(**meta["hyperparameters"])
    net = NumpyLSTM(
        lstm,
        dense,
        stateful=hyperparameters.stateful,
        seq_len=None if hyperparameters.stateful else hyperparameters.seq_len,
    )
    return Sampler(
        net=net,
        vocabulary=Vocabulary.from_json(meta["vocabulary"]),
        hyperparameters=hyperparameters,
        warmup_text=meta.get("warmup_text", ""),
        epoch=meta["epoch"],
    )
