"""Tiny Keras models with random weights, shared by the numpy fast path and sampler tests."""

import numpy as np

from shared.engine.config import Hyperparameters
from shared.engine.training.model import build_model, lstm_layers

VOCAB = 11
TOL = 1e-4


def as_numpy(tensor) -> np.ndarray:
    """A backend tensor (a model's output) as numpy, on every backend (PyTorch's carry gradients)."""
    import keras

    return keras.ops.convert_to_numpy(tensor)


def randomise(model, seed):
    """Random nonzero weights everywhere, biases included (large enough to saturate some gates)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.6, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def stateful(batch_size, seq_len, weights_from=None):
    hp = Hyperparameters(mode="stateful", layers=2, units=16, seq_len=max(seq_len, 2), batch_size=batch_size)
    model = build_model(hp, VOCAB)
    if seq_len == 1:  # Hyperparameters needs seq_len >= 2: rebuild the same stack with (1, 1)
        import keras

        from shared.engine.training.model import OneHot

        inputs = keras.Input(batch_shape=(batch_size, 1), dtype="int32")
        x = OneHot(VOCAB)(inputs)
        for _ in range(2):
            x = keras.layers.LSTM(16, return_sequences=True, stateful=True)(x)
        model = keras.Model(inputs, keras.layers.Dense(VOCAB)(x))
    if weights_from is None:
        randomise(model, 1)
    else:
        model.set_weights(weights_from.get_weights())
    return model


def stateless(seq_len=8):
    hp = Hyperparameters(mode="stateless", layers=2, units=16, seq_len=seq_len)
    return randomise(build_model(hp, VOCAB), 2)


def reset(model):
    for layer in lstm_layers(model):
        layer.reset_states()
