"""Fixtures of the engine tests: tiny random models (see tiny_models.py), built once per module."""

import pytest

from shared.engine.inference.numpy_lstm import NumpyLSTM
from tests.engine.tiny_models import stateful, stateless


@pytest.fixture(scope="module")
def model_1x1():
    """A stateful 2 x 16 model with batch shape (1, 1)."""
    return stateful(1, 1)


@pytest.fixture(scope="module")
def stateless_model():
    """A stateless 2 x 16 model with windows of 8."""
    return stateless(8)


@pytest.fixture(scope="module")
def net(model_1x1):
    return NumpyLSTM.from_model(model_1x1)
