"""Checkpoints: a folder per epoch holding `model.keras` (architecture, weights and optimizer state,
Keras's own format) and `checkpoint.json` (epoch, history, vocabulary, corpus transforms,
hyperparameters). Never pickle; loaded with Keras safe mode.

A run folder holds `checkpoints/epoch-NNNN/`; training keeps the latest and the best.
"""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import Hyperparameters
from ..data.corpus import Vocabulary

MODEL_FILE = "model.keras"
META_FILE = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A folder that is not a usable checkpoint."""


@dataclass
class Checkpoint:
    model: object  # keras.Model
    hyperparameters: Hyperparameters
    vocabulary: Vocabulary
    meta: dict
    path: Path

    @property
    def epoch(self) -> int:
        return self.meta["epoch"]

    @property
    def warmup_text(self) -> str:
        return self.meta.get("warmup_text", "")


def epoch_dir(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"epoch-{epoch:04d}"


def is_checkpoint(path: Path) -> bool:
    return (Path(path) / META_FILE).is_file() and (Path(path) / MODEL_FILE).is_file()


def list_checkpoints(run_dir: Path) -> list[Path]:
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("epoch-*") if is_checkpoint(p))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def resolve(path: Path) -> Path:
    """A checkpoint folder itself, or a run folder's best checkpoint (else its latest)."""
    path = Path(path)
    if is_checkpoint(path):
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise CheckpointError(f"{path}: not a checkpoint or a training run folder")
    best = read_meta(latest).get("best_epoch")
    if best is not None and (isinstance(best, bool) or not isinstance(best, int) or best < 1):
        # only an epoch number may choose the folder: never a path from the file
        raise CheckpointError(f"{latest}: best_epoch must be an epoch number, not {best!r}")
    if best and is_checkpoint(epoch_dir(path, best)):
        return epoch_dir(path, best)
    return latest


def read_meta(path: Path) -> dict:
    try:
        meta = json.loads((Path(path) / META_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable {META_FILE} ({exc})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint format {meta.get('format_version')!r}")
    return meta


def save(model, meta: dict, run_dir: Path) -> Path:
    """Write the checkpoint for meta["epoch"] atomically (a temp folder renamed into place)."""
    final = epoch_dir(run_dir, meta["epoch"])
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save(tmp / MODEL_FILE)
    (tmp / META_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def prune(run_dir: Path, keep: set[int]) -> None:
    """Delete epoch checkpoints other than those in `keep`."""
    for path in list_checkpoints(run_dir):
        if int(path.name.split("-")[1]) not in keep:
            shutil.rmtree(path, ignore_errors=True)


def load(path: Path, compile: bool = True) -> Checkpoint:
    """Load a checkpoint (or a run folder's best one) with nothing but this package and Keras."""
    path = resolve(path)
    meta = read_meta(path)
    import keras  # only now: a wrong folder is reported without starting TensorFlow

    from . import model as _model  # noqa: F401  registers the custom layer

    try:
        model = keras.saving.load_model(path / MODEL_FILE, safe_mode=True, compile=compile)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise CheckpointError(f"{path}: cannot load {MODEL_FILE} ({exc})") from exc
    return Checkpoint(
        model=model,
        hyperparameters=Hyperparameters(**meta["hyperparameters"]),
        vocabulary=Vocabulary.from_json(meta["vocabulary"]),
        meta=meta,
        path=path,
    )
