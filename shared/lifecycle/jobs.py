"""A training job's state: created queued, claimed by a worker, heartbeats, epochs recorded,
cancel requested, handed back or lost, given up, finished. Also its two derived figures: the best
epoch (the engine's rule) and the ETA (one formula)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Analysis, Epoch, Job, Sample, WorkStatus, as_utc, new_lease, utcnow
from ..engine.config import Hyperparameters, describe_validation_error
from ..engine.training.train import best_epoch as best_of
from ..settings import get_settings
from .dispatch import (
    HEARTBEAT_CANCEL,
    HEARTBEAT_LOST,
    HEARTBEAT_OK,
    beat,
    clip,
    dispatch_for_new,
    fresh,
    hold,
    holds,
    redispatch,
    superseded,
)
from .quotas import check_job_quota, lock_user


class JobLost(Exception):
    """The job was given to another worker (this one was silent too long): stop, touch nothing."""


class AlreadyFinished(Exception):
    """A succeeded or failed job cannot be cancelled."""

    def __init__(self, job: Job):
        super().__init__(f"job {job.id} already {WorkStatus(job.status).value}; nothing to cancel")
        self.job = job


@dataclass(frozen=True)
class TrainingWork:
    """What a worker needs to run (or resume) one attempt of a job."""

    job_id: int
    hyperparameters: Hyperparameters
    corpus_key: str
    attempts: int
    resume_epoch: int | None  # latest recorded epoch, resumed from its checkpoint
    resume_key: str | None
    parent_epoch: int | None = None  # a continued or forked job: the parent's epoch it starts from
    lease: str = ""  # this attempt's fencing token: its objects go under it, and it records only while it holds it


@dataclass(frozen=True)
class Busy:
    """The job is running on another worker whose heartbeat is fresh."""

    worker: str | None
    heartbeat_at: datetime | None


# ---- creation and the cancel request (the API and the admin pages) ---------------------------


def create_job(
    session: Session, owner_id: int, corpus_id: int, hyperparameters: Hyperparameters, start_epoch: int = 0
) -> Job:
    """A new queued job (flushed: it has its id), within its owner's quotas (QuotaExceeded; a job
    continuing another from its epoch `start_epoch` counts only the epochs it trains). It
    waits its turn (fair queues, see dispatch.py): when its owner has no job waiting in the broker,
    their oldest waiting job (this one, or an older one whose send failed) is dispatched: send what
    `take_dispatches` returns after commit."""
    check_job_quota(session, lock_user(session, owner_id), hyperparameters, start_epoch=start_epoch)
    job = Job(
        owner_id=owner_id, corpus_id=corpus_id, hyperparameters=hyperparameters, status=WorkStatus.queued, epochs=[]
    )
    session.add(job)
    session.flush()
    hold(job)  # after the INSERT: its column default would fill a None in
    dispatch_for_new(session, Job, owner_id)
    return job


def _cancel(job: Job) -> None:
    """The one transition to `cancelled`."""
    job.status, job.finished_at, job.cancel_requested = WorkStatus.cancelled, utcnow(), True


CANCELLED, CANCEL_REQUESTED, UNCHANGED = "cancelled", "cancel requested", "unchanged"


def request_cancel(session: Session, job_id: int) -> tuple[Job, str]:
    """Cancel a job: a queued one at once (CANCELLED), a running one at its next batch
    (CANCEL_REQUESTED: its worker reads the flag). A cancelled job, or a running one already asked,
    is UNCHANGED; a succeeded or failed one raises AlreadyFinished, an unknown one LookupError."""
    stmt = select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    job = session.scalar(stmt)  # locked: a worker may be starting or finishing this job right now
    if job is None:
        raise LookupError(f"job {job_id} not found")
    status = WorkStatus(job.status)
    if status in (WorkStatus.succeeded, WorkStatus.failed):
        raise AlreadyFinished(job)
    if status == WorkStatus.queued:
        _cancel(job)
        return job, CANCELLED
    if status == WorkStatus.running and not job.cancel_requested:
        job.cancel_requested = True
        return job, CANCEL_REQUESTED
    return job, UNCHANGED


def cancel_requested(session: Session, job_id: int) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


# ---- a worker's attempt -----------------------------------------------------------------------


def _out_of_attempts(job: Job, max_attempts: int, detail: str = "") -> bool:
    """Fail a job whose worker kept stopping, once it has used all its attempts."""
    if job.attempts < max_attempts:
        return False
    job.status, job.finished_at = WorkStatus.failed, utcnow()
    job.error = clip(f"gave up after {job.attempts} attempts: the worker running this job stopped each time{detail}")
    return True


def claim_job(
    session: Session,
    job_id: int,
    worker: str,
    token: str | None = None,
    max_attempts: int | None = None,
    heartbeat_timeout: float | None = None,
) -> TrainingWork | Busy | None:
    """Mark the job running for this attempt. None when there is nothing to do (finished, unknown,
    superseded message, cancelled, out of attempts, invalid); Busy while another live worker runs
    it. max_attempts and heartbeat_timeout default to the settings.

    A job found `running` whose message arrives again was on a worker that died: this worker's own
    previous pool process, or another worker whose heartbeat stopped."""
    settings = get_settings()
    max_attempts = max_attempts or settings.max_attempts
    heartbeat_timeout = settings.heartbeat_timeout if heartbeat_timeout is None else heartbeat_timeout
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or WorkStatus(job.status).finished or superseded(job, token):
        return None
    if job.cancel_requested:
        _cancel(job)
        return None
    if job.status == WorkStatus.running:
        if job.worker != worker and fresh(job.heartbeat_at, heartbeat_timeout):
            return Busy(job.worker, as_utc(job.heartbeat_at))
        if _out_of_attempts(job, max_attempts):
            return None
    try:
        hyperparameters = job.hyperparameters
    except ValidationError as exc:
        job.status, job.finished_at = WorkStatus.failed, utcnow()
        job.error = clip(f"invalid hyperparameters: {describe_validation_error(exc)}")
        return None
    now = utcnow()
    job.status, job.worker, job.progress, job.error = WorkStatus.running, worker, 0.0, None
    job.attempts += 1
    job.started_at = job.started_at or now
    job.heartbeat_at, job.finished_at = now, None
    job.lease = new_lease()
    latest = session.scalars(select(Epoch).where(Epoch.job_id == job_id).order_by(Epoch.epoch.desc()).limit(1)).first()
    if latest is None and job.parent_id is not None:  # a continued or forked job's first start
        latest = session.scalars(
            select(Epoch).where(Epoch.job_id == job.parent_id, Epoch.epoch == job.parent_epoch)
        ).first()
    return TrainingWork(
        job_id=job.id,
        hyperparameters=hyperparameters,
        corpus_key=job.corpus.object_key,
        attempts=job.attempts,
        resume_epoch=latest.epoch if latest else None,
        resume_key=latest.checkpoint_key if latest else None,
        parent_epoch=job.parent_epoch,
        lease=job.lease,
    )


def owns(session: Session, job_id: int, worker: str, lease: str | None = None) -> Job | None:
    """The job, locked for the caller's transaction, while it runs on `worker` (and under `lease`,
    the attempt's fencing token, when given); else None."""
    job = session.get(Job, job_id, with_for_update=True)
    return job if job is not None and holds(job, lease) and job.worker == worker else None


def _owned(session: Session, job_id: int, worker: str | None, lease: str | None = None) -> Job:
    job = session.get(Job, job_id, with_for_update=True) if worker is None else owns(session, job_id, worker, lease)
    if job is None:
        raise JobLost(f"job {job_id} is no longer running on {worker}")
    return job


def job_heartbeat(session: Session, job_id: int, progress: float | None, worker: str, lease: str | None = None) -> str:
    """Record that `worker` is alive on the job (and its progress). Returns "cancel" when the job
    was asked to stop, "lost" when this attempt no longer holds it (the reconciler gave it to
    another one), else "ok"."""
    if not beat(session, Job, job_id, progress, worker, lease):
        return HEARTBEAT_LOST
    return HEARTBEAT_CANCEL if cancel_requested(session, job_id) else HEARTBEAT_OK


def record_vocabulary(
    session: Session, job_id: int, characters: list[str], worker: str | None = None, lease: str | None = None
) -> None:
    """The model's characters, known once the engine has prepared the corpus."""
    _owned(session, job_id, worker, lease).vocabulary = list(characters)


def record_epoch(
    session: Session,
    job_id: int,
    report,
    checkpoint_key: str,
    worker: str | None = None,
    checkpoint_bytes: int | None = None,
    lease: str | None = None,
) -> None:
    """Insert (or replace) the Epoch row of `report` (an engine EpochReport) and advance the job:
    epoch, best_val_loss, train_seconds, storage_bytes, progress. With `worker` (and `lease`),
    raises JobLost unless that attempt still holds the job."""
    job = _owned(session, job_id, worker, lease)
    row = session.scalars(select(Epoch).where(Epoch.job_id == job_id, Epoch.epoch == report.epoch)).first()
    if row is None:
        row = Epoch(job_id=job_id, epoch=report.epoch, seconds=0.0)
        session.add(row)
    job.train_seconds = (job.train_seconds or 0.0) - (row.seconds or 0.0) + report.seconds
    row.loss, row.val_loss = report.loss, report.val_loss
    row.seconds, row.chars_per_second = report.seconds, report.chars_per_second
    row.checkpoint_key = checkpoint_key
    stored_before = 0 if row.pruned_at is not None else (row.checkpoint_bytes or 0)
    job.storage_bytes = (job.storage_bytes or 0) - stored_before + (checkpoint_bytes or 0)
    row.checkpoint_bytes, row.pruned_at = checkpoint_bytes, None
    job.epoch = report.epoch
    if report.val_loss is not None and (job.best_val_loss is None or report.val_loss < job.best_val_loss):
        job.best_val_loss = report.val_loss
    job.progress, job.heartbeat_at = 0.0, utcnow()


def finish_job(
    session: Session,
    job_id: int,
    status: WorkStatus,
    error: str | None = None,
    worker: str | None = None,
    lease: str | None = None,
) -> bool:
    """End the job (succeeded, failed or cancelled; a run that completed while a cancel was
    requested ends cancelled). With `worker` (and `lease`), only while that attempt holds it
    (False when another one does now)."""
    job = session.get(Job, job_id, with_for_update=True) if worker is None else owns(session, job_id, worker, lease)
    if job is None:
        return False
    if status == WorkStatus.cancelled or (status == WorkStatus.succeeded and job.cancel_requested):
        _cancel(job)
    else:
        job.status, job.finished_at = status, utcnow()
    job.heartbeat_at = utcnow()
    job.error = clip(error) if error else None
    if job.status == WorkStatus.succeeded:
        job.progress = 1.0
    return True


def _requeue(job: Job) -> str:
    job.status, job.worker, job.progress = WorkStatus.queued, None, 0.0
    return redispatch(job)


def requeue_job(session: Session, job_id: int, worker: str, lease: str | None = None) -> str | None:
    """Hand a running job back to the queue (its worker is stopping gracefully): counted in
    `requeues`, not as an attempt. Returns the new dispatch token to send, or None when the job
    is no longer running there (under `lease`, when given)."""
    job = owns(session, job_id, worker, lease)
    if job is None:
        return None
    job.attempts = max(0, job.attempts - 1)
    job.requeues += 1
    return _requeue(job)


def worker_lost(job: Job, heartbeat_timeout: float, max_attempts: int) -> str | None:
    """A running job whose heartbeat stopped (the reconciler found it; locked by the caller):
    cancelled if a cancel was pending, failed once out of attempts, else back to the queue with a
    new token (returned, to send after commit)."""
    if job.cancel_requested:
        _cancel(job)
        return None
    if _out_of_attempts(job, max_attempts, f" (last one {job.worker}, silent for over {heartbeat_timeout:g} s)"):
        return None
    return _requeue(job)


def message_lost(record: Job | Sample | Analysis) -> str | None:
    """A queued job, sample or analysis whose message the broker lost (found by the reconciler; locked by
    the caller): a job with a pending cancel ends cancelled, anything else gets a new token
    (returned, to send after commit)."""
    if isinstance(record, Job) and record.cancel_requested:
        _cancel(record)
        return None
    return redispatch(record)


# ---- derived figures --------------------------------------------------------------------------


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
