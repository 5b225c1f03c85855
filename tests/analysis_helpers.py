"""A tiny real checkpoint for the analysis tests (API, workers, CLI, pages): trained once per test
process (2 x 16 units, one epoch on 6,000 characters of Python), stored under a job's checkpoint
key on demand."""

from __future__ import annotations

import functools
import inspect
import json
import tempfile
import textwrap
from pathlib import Path

from shared.storage.keys import checkpoint_key

TINY = {"layers": 2, "units": 16, "seq_len": 20, "batch_size": 8, "validation_split": 0.1, "epochs": 1, "seed": 3}


@functools.cache
def python_text() -> str:
    import json.decoder

    return textwrap.dedent(inspect.getsource(json.decoder))[:6000]


@functools.cache
def tiny_run() -> Path:
    """A run folder with one checkpoint (epoch 1), trained on python_text()."""
    from shared.engine.config import Hyperparameters
    from shared.engine.training.train import train

    folder = Path(tempfile.mkdtemp(prefix="charlstm-analysis-"))
    train(python_text(), Hyperparameters(**TINY), folder)
    return folder


def tiny_checkpoint() -> Path:
    from shared.engine.training.checkpoint import latest_checkpoint

    found = latest_checkpoint(tiny_run())
    assert found is not None
    return found


def store_checkpoint(store, job_id: int, epoch: int = 1, lease: str | None = None) -> str:
    """Put the tiny checkpoint where the job's epoch `epoch` says it is (under `lease`, or where
    epochs were written before leases); returns its key."""
    key = checkpoint_key(job_id, epoch, lease) if lease else f"jobs/{job_id}/epoch-{epoch:04d}"
    store.put_dir(key, tiny_checkpoint())
    return key


def vocabulary() -> list[str]:
    return json.loads((tiny_checkpoint() / "checkpoint.json").read_text())["vocabulary"]
