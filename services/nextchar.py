"""The temperature chart's numbers in the web process: the model's next-character distribution
after a prompt (shared.engine.temperature), from a light model of the checkpoint (numpy weights
read without Keras or TensorFlow: shared.engine.light), kept in a small LRU cache per process.

Why here and not on the sampling queue: the chart redraws as the user types, so an answer must
come back in one request; one prompt is a few hundred numpy steps (milliseconds), and a light
model is read in about 0.1 s from its checkpoint, once per process while it stays cached
(MODEL_CACHE_SIZE models). TensorFlow is never imported by the web process.

The cache belongs to the app (`app.extensions`), not the module: a checkpoint key names one
model within one deployment's storage only."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from flask import current_app

from shared.engine.sample import Sampler
from shared.storage import NotFound

from .context import get_store, settings
from .errors import ApiError

_lock = threading.Lock()


def _cache() -> OrderedDict[str, Sampler]:
    return current_app.extensions.setdefault("light_models", OrderedDict())


def light_sampler(checkpoint_key: str) -> Sampler:
    """The checkpoint's light sampler (cached; downloaded and read on a miss)."""
    _models = _cache()
    with _lock:
        if checkpoint_key in _models:
            _models.move_to_end(checkpoint_key)
            return _models[checkpoint_key]
    from shared.engine.checkpoint import CheckpointError
    from shared.engine.light import load_light_sampler

    root = settings().scratch_dir
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="light-", dir=root))
    try:
        try:
            get_store().get_dir(checkpoint_key, folder)
            sampler = load_light_sampler(folder)
        except (NotFound, CheckpointError) as exc:
            current_app.logger.warning("light model of %s: %s", checkpoint_key, exc)
            raise ApiError(404, "the checkpoint is missing or unreadable in storage") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with _lock:
        _models[checkpoint_key] = sampler
        while len(_models) > max(1, settings().model_cache_size):
            _models.popitem(last=False)
    return sampler
