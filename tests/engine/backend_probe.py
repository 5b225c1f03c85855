"""Run by test_backends.py in a subprocess whose KERAS_BACKEND is jax or torch:

    python -m tests.engine.backend_probe GIVEN_CHECKPOINT OUT_DIR

1. loads GIVEN_CHECKPOINT (trained on TensorFlow) and writes its next-character probabilities on a
   fixed input to OUT_DIR/given.npz;
2. trains a tiny model on this backend into OUT_DIR/run and writes its probabilities to own.npz;
3. runs the engine tests marked `backends` on this backend (pytest's exit status is this one's).
"""

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

TINY = {"layers": 2, "units": 16, "seq_len": 20, "batch_size": 8, "validation_split": 0.1, "patience": 0, "seed": 3}


# the engine test files with tests marked `backends` (test_backends.py checks this list is complete)
MARKED = (
    "training/test_train.py",
    "inference/test_numpy_lstm.py",
    "inference/test_sample.py",
    "training/test_devices.py",
    "training/test_budget.py",
)


def tiny_text() -> str:
    return inspect.getsource(json.decoder)[:6000]


def probe_ids(batch_size: int, seq_len: int, vocab_size: int) -> np.ndarray:
    """Two batches of fixed character ids (the state carries from the first to the second)."""
    return np.random.default_rng(11).integers(0, vocab_size, (2, batch_size, seq_len)).astype(np.int32)


def probabilities(path: Path) -> dict[str, Any]:
    """The checkpoint's next-character probabilities on probe_ids: through the Keras model on this
    backend, and through the sampler's numpy network built from the weights loaded here."""
    import keras

    from shared.engine.inference.numpy_lstm import NumpyLSTM, softmax
    from shared.engine.training import checkpoint as ckpt
    from shared.engine.training.model import reset_states

    saved = ckpt.load(path, compile=False)
    hp = saved.hyperparameters
    ids = probe_ids(hp.batch_size, int(hp.seq_len or 0), len(saved.vocabulary))
    model: Any = saved.model
    reset_states(model)
    keras_probs = [softmax(keras.ops.convert_to_numpy(model(batch, training=False))) for batch in ids]
    net = NumpyLSTM.from_model(model)
    net.reset(hp.batch_size)
    numpy_probs = [softmax(net.sequence_logits(batch)) for batch in ids]
    return {"keras": np.stack(keras_probs), "numpy": np.stack(numpy_probs)}


def main(given: str, out: str) -> int:
    import keras
    import pytest

    from shared.engine.config import Hyperparameters
    from shared.engine.training.train import train

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "given.npz", **probabilities(Path(given)))
    result = train(tiny_text(), Hyperparameters(**TINY, epochs=1), out_dir / "run")
    np.savez(out_dir / "own.npz", **probabilities(out_dir / "run"))
    (out_dir / "backend.json").write_text(
        json.dumps({"backend": keras.backend.backend(), "loss": result.history[-1].loss})
    )
    here = Path(__file__).resolve().parent
    files = [str(here / name) for name in MARKED]
    return int(pytest.main(["-q", "-p", "no:cacheprovider", "-m", "backends", *files]))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
