"""Run by test_data_parallel.py in a subprocess with KERAS_BACKEND=jax and two virtual CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2):

    python -m tests.engine.data_parallel_probe OUT_DIR

Trains the same tiny stateful job on one device and on two, and writes to OUT_DIR/result.npz each
run's per-epoch losses, the LSTM states (h, c of every layer, one row per batch row) at the end,
and which rows of a batch each of the two devices holds.
"""

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

BATCH, SEQ = 8, 20
TINY: dict[str, Any] = {
    "layers": 2,
    "units": 16,
    "seq_len": SEQ,
    "batch_size": BATCH,
    "validation_split": 0.1,
    "patience": 0,
    "seed": 5,
}


def main(out: str) -> int:
    import jax
    import keras

    from shared.engine.config import Hyperparameters
    from shared.engine.training import devices
    from shared.engine.training.model import lstm_layers
    from shared.engine.training.train import TrainingCallbacks, train

    class Mesh(TrainingCallbacks):
        """Records how many devices the distribution active during training spans."""

        size = 0

        def on_train_begin(self, plan):
            active = keras.distribution.distribution()
            self.size = 0 if active is None else int(active.device_mesh.devices.size)

    out_dir = Path(out)
    text = inspect.getsource(json.decoder)[:8000]
    found: dict[str, Any] = {"devices": np.array(devices.available())}
    for n in (1, 2):
        mesh = Mesh()
        result = train(text, Hyperparameters(**TINY, epochs=2, devices=n), out_dir / f"run{n}", mesh)
        found[f"mesh{n}"] = np.array(mesh.size)
        found[f"loss{n}"] = np.array([r.loss for r in result.history])
        found[f"val_loss{n}"] = np.array([r.val_loss for r in result.history])
        states = [keras.ops.convert_to_numpy(v) for layer in lstm_layers(result.model) for v in layer.states]
        found[f"states{n}"] = np.stack(states)
    # where Keras's DataParallel puts a batch's rows: one contiguous block of rows per device
    distribution = keras.distribution.DataParallel(devices=devices.available()[:2])
    layout = distribution.get_data_layout((BATCH, SEQ))
    batch = np.arange(BATCH)[:, None] * np.ones((1, SEQ), dtype=np.int32)
    placed = jax.device_put(batch, layout.backend_layout)
    found["rows_per_device"] = np.stack(
        [np.asarray(shard.data)[:, 0] for shard in sorted(placed.addressable_shards, key=lambda s: s.device.id)]
    )
    refusals = []
    for asked in ({"mode": "stateless", "devices": 2}, {"batch_size": 7, "devices": 2}, {"devices": 3}):
        try:
            devices.check(Hyperparameters(**asked))
            refusals.append("")
        except devices.DeviceError as exc:
            refusals.append(str(exc))
    found["refusals"] = np.array(refusals)
    np.savez(out_dir / "result.npz", **found)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
