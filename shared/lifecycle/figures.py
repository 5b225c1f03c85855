"""A job's derived figures: the checkpoints still stored, the one to sample from (the engine's
best-epoch rule among them), and the ETA (one formula)."""

from __future__ import annotations

from ..db.models import Epoch, Job, WorkStatus
from ..engine.training.learning import LearningVerdict, run_verdict
from ..engine.training.train import best_epoch as best_of


def stored_checkpoints(job: Job) -> list[Epoch]:
    """The epochs whose checkpoint is in storage: recorded with one, not pruned by retention."""
    return [e for e in job.epochs if e.checkpoint_key and e.pruned_at is None]


class NoCheckpoint(LookupError):
    """The job has no stored checkpoint of the epoch asked for (`message` says why and lists the
    epochs that have one)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def stored_checkpoint(job: Job, epoch: int | None = None) -> Epoch:
    """The stored checkpoint of epoch `epoch` of `job` (the best one when None): the one lookup the
    samples, the analyses and the checkpoint downloads make. NoCheckpoint when there is none (never
    recorded, or deleted by the job's retention policy); each caller picks its HTTP status."""
    if epoch is None:
        best = best_epoch(job)
        if best is None:
            raise NoCheckpoint(f"job {job.id} has no checkpoint yet")
        return best
    stored = stored_checkpoints(job)
    for row in stored:
        if row.epoch == epoch:
            return row
    have = [row.epoch for row in stored]
    listed = ", ".join(map(str, have[:20])) + (", ..." if len(have) > 20 else "")
    pruned = any(e.epoch == epoch and e.checkpoint_key and e.pruned_at is not None for e in job.epochs)
    why = ": its retention policy deleted it" if pruned else ""
    which = f"epochs with one: {listed}" if have else "none yet"
    raise NoCheckpoint(f"job {job.id} has no checkpoint of epoch {epoch}{why} ({which})")


def best_epoch(job: Job) -> Epoch | None:
    """The checkpoint to sample from: the lowest validation loss (the engine's rule: the earliest
    of equal losses), else the latest epoch; among the checkpoints still stored (retention)."""
    epochs = stored_checkpoints(job)
    return best_of(epochs) or (epochs[-1] if epochs else None)


def eta_seconds(job: Job) -> float | None:
    """Seconds until a queued or running job has run all its epochs: the mean seconds of its
    recorded epochs x the epochs left, the running epoch counted by its progress. An upper bound
    (early stopping may end sooner); None before the first epoch or once finished."""
    status = WorkStatus(job.status)
    if not status.active or not job.epoch:
        return None
    progress = min(max(job.progress or 0.0, 0.0), 1.0) if status == WorkStatus.running else 0.0
    remaining = max(job.hyperparameters.epochs - job.epoch - progress, 0.0)
    own = job.epoch - (job.parent_epoch or 0)  # a continued job's epochs start after its parent's
    return (job.train_seconds or 0.0) / own * remaining if own > 0 else None


def learning_of(job: Job) -> LearningVerdict | None:
    """Whether the job's model has learned, at its best held-out epoch: the engine's `run_verdict`
    against the corpus's unigram entropy (recorded when training starts) with the sizing advice for
    its corpus. None before an epoch has a held-out loss, or for a job that started before the
    entropy was recorded."""
    epochs = [(e.loss, e.val_loss) for e in job.epochs]
    vocab_size = len(job.vocabulary) if job.vocabulary else (job.corpus.clean_unique or 100)
    return run_verdict(epochs, job.unigram_bits, job.corpus.clean_chars, job.hyperparameters, vocab_size)
