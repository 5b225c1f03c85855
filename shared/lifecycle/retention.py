"""Which checkpoints of a job stay in storage. A policy keeps the latest `keep_last`
epochs' checkpoints (at least the latest: a resumed attempt starts from it), the best one, every
`keep_every`-th one, and any that a continued or forked job starts from; the training worker
deletes the others' objects as epochs land (`prune_plan`, then `mark_pruned`: the metrics stay).

The delete comes before the mark: a crash in between leaves a row whose objects are gone but
unmarked, which the next epoch's `prune_plan` lists again (deleting a missing key is no error)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Epoch, Job, utcnow
from ..engine.training.train import best_epoch
from ..settings import get_settings


class RetentionPolicy(BaseModel):
    """A job's checkpoint retention policy; unset fields take the settings' defaults."""

    model_config = ConfigDict(extra="forbid", strict=True)

    keep_every: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="keep every Nth epoch's checkpoint; 0: none of these, 1: all (default RETENTION_KEEP_EVERY)",
    )
    keep_best: bool = Field(True, description="keep the best epoch's checkpoint (lowest validation loss)")
    keep_last: int = Field(1, ge=1, le=10_000, description="keep the latest N epochs' checkpoints (at least 1)")

    def resolved(self) -> RetentionPolicy:
        every = get_settings().retention_keep_every if self.keep_every is None else self.keep_every
        return self.model_copy(update={"keep_every": every})


def policy_of(job: Job) -> RetentionPolicy:
    return RetentionPolicy.model_validate(job.retention or {}).resolved()


def kept_epochs(
    epochs: list[Epoch], policy: RetentionPolicy, pinned: set[int] | frozenset[int] = frozenset()
) -> set[int]:
    """The epoch numbers whose checkpoints `policy` keeps among `epochs` (plus `pinned`)."""
    numbers = sorted(e.epoch for e in epochs)
    keep = set(numbers[-policy.keep_last :]) | (set(pinned) & set(numbers))
    every = policy.keep_every or 0
    if every:
        keep |= {n for n in numbers if n % every == 0}
    best = best_epoch(epochs) if policy.keep_best else None
    if best is not None:
        keep.add(best.epoch)
    return keep


def pinned_epochs(session: Session, job_id: int) -> set[int]:
    """Epochs of this job that a continued or forked job starts from."""
    return set(session.scalars(select(Job.parent_epoch).where(Job.parent_id == job_id, Job.parent_epoch.is_not(None))))


def prune_plan(session: Session, job_id: int) -> list[tuple[int, str]]:
    """(epoch, checkpoint key) of the job's checkpoints its policy no longer keeps and that are
    still in storage (not marked pruned)."""
    job = session.get(Job, job_id)
    if job is None:
        return []
    epochs = list(session.scalars(select(Epoch).where(Epoch.job_id == job_id)))
    keep = kept_epochs(epochs, policy_of(job), pinned_epochs(session, job_id))
    return sorted((e.epoch, e.checkpoint_key) for e in epochs if e.epoch not in keep and e.pruned_at is None)


def mark_pruned(session: Session, job_id: int, epochs: list[int]) -> None:
    """Record that these epochs' checkpoint objects were deleted."""
    if not epochs:
        return
    job = session.get(Job, job_id, with_for_update=True)
    for row in session.scalars(select(Epoch).where(Epoch.job_id == job_id, Epoch.epoch.in_(epochs))):
        if row.pruned_at is None:
            row.pruned_at = utcnow()
            if job is not None:
                job.storage_bytes = max(0, (job.storage_bytes or 0) - (row.checkpoint_bytes or 0))


def storage_bytes(job: Job) -> int:
    """Bytes of the job's checkpoints still in object storage (as uploaded): the job's counter,
    kept by record_epoch and mark_pruned."""
    return job.storage_bytes or 0
