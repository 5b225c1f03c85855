"""A job's stored checkpoints as the downloads, the analyses and the temperature chart read them."""

from __future__ import annotations

from shared import lifecycle
from shared.db.models import Epoch, Job
from shared.storage import ObjectStore

from .errors import NotFound


def checkpoint_files(store: ObjectStore, job: Job, epoch: int | None) -> tuple[Epoch, list[str]]:
    """(the epoch's row, its stored object keys): the best epoch when `epoch` is None; NotFound
    when there is no such checkpoint, in the database or in storage."""
    try:
        row = lifecycle.stored_checkpoint(job, epoch)
    except lifecycle.NoCheckpoint as exc:
        raise NotFound(exc.message) from None
    keys = store.list(row.checkpoint_key.rstrip("/") + "/")
    if not keys:
        raise NotFound(f"the checkpoint of epoch {row.epoch} of job {job.id} is missing from storage")
    return row, keys
