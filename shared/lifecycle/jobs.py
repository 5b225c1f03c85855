"""A training job: its own rules on top of the moves of queued work (work.py). Created queued
within its owner's quotas, it waits its turn (fair queues, dispatch.py). A running job's cancel is
a request its worker reads at its next heartbeat (a queued one is cancelled at once). A job found
running again (its worker was lost, not the job's fault) is retried until it has used MAX_ATTEMPTS
starts; a stopping worker's hand-back is counted in `requeues`, not as an attempt. Its worker
records the vocabulary and each epoch (with its checkpoint) while it holds the job. Its derived
figures (best epoch, ETA) are in figures.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import Epoch, Job, WorkStatus, as_utc, utcnow
from ..engine.config import Hyperparameters, describe_validation_error
from ..settings import get_settings
from . import work
from .dispatch import add_waiting
from .quotas import check_job_quota, lock_user
from .work import HEARTBEAT_CANCEL, HEARTBEAT_LOST, HEARTBEAT_OK


class JobLost(Exception):
    """The job was given to another worker (this one was silent too long): stop, touch nothing."""


class AlreadyFinished(work.Finished):
    """A succeeded or failed job cannot be cancelled."""

    @property
    def job(self) -> Job:
        return cast(Job, self.record)


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
    add_waiting(session, job)
    return job


def _cancel(job: Job, error: str | None = None) -> None:
    """A job ends cancelled (`work.end`) with its cancel flag set."""
    work.end(job, WorkStatus.cancelled, error)
    job.cancel_requested = True


CANCELLED, CANCEL_REQUESTED, UNCHANGED = "cancelled", "cancel requested", "unchanged"


def request_cancel(session: Session, job_id: int) -> tuple[Job, str]:
    """Cancel a job: a queued one at once (CANCELLED), a running one at its next batch
    (CANCEL_REQUESTED: its worker reads the flag). A cancelled job, or a running one already asked,
    is UNCHANGED; a succeeded or failed one raises AlreadyFinished, an unknown one LookupError."""
    job = work.locked(session, Job, job_id)
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
    work.fail(job, f"gave up after {job.attempts} attempts: the worker running this job stopped each time{detail}")
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
    job = work.claimable(session, Job, job_id, token)
    if job is None:
        return None
    if job.cancel_requested:
        _cancel(job)
        return None
    if job.status == WorkStatus.running:
        if job.worker != worker and work.fresh(job.heartbeat_at, heartbeat_timeout):
            return Busy(job.worker, as_utc(job.heartbeat_at))
        if _out_of_attempts(job, max_attempts):
            return None
    try:
        hyperparameters = job.hyperparameters
    except ValidationError as exc:
        work.fail(job, f"invalid hyperparameters: {describe_validation_error(exc)}")
        return None
    lease = work.start(job, worker)
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
        lease=lease,
    )


def _owned(session: Session, job_id: int, worker: str | None, lease: str | None = None) -> Job | None:
    """The job, locked: while `worker` holds it (under `lease`, when given); any job when `worker`
    is None (the caller is not a worker's attempt)."""
    if worker is None:
        return session.get(Job, job_id, with_for_update=True)
    return work.held(session, Job, job_id, worker, lease)


def _held(session: Session, job_id: int, worker: str | None, lease: str | None = None) -> Job:
    job = _owned(session, job_id, worker, lease)
    if job is None:
        raise JobLost(f"job {job_id} is no longer running on {worker}")
    return job


def job_heartbeat(session: Session, job_id: int, progress: float | None, worker: str, lease: str | None = None) -> str:
    """Record that `worker` is alive on the job (and its progress). Returns "cancel" when the job
    was asked to stop, "lost" when this attempt no longer holds it (the reconciler gave it to
    another one), else "ok"."""
    if not work.beat(session, Job, job_id, progress, worker, lease):
        return HEARTBEAT_LOST
    return HEARTBEAT_CANCEL if cancel_requested(session, job_id) else HEARTBEAT_OK


def record_vocabulary(
    session: Session,
    job_id: int,
    characters: list[str],
    worker: str | None = None,
    lease: str | None = None,
    unigram_bits: float | None = None,
    hyperparameters: Hyperparameters | None = None,
) -> None:
    """The model's characters (and the bits/char its text's character frequencies give alone),
    known once the engine has prepared the corpus; with `hyperparameters`, what the budgeted
    recipe chose replaces what was asked (the job then shows, continues and forks what it trains)."""
    job = _held(session, job_id, worker, lease)
    job.vocabulary = list(characters)
    if unigram_bits is not None:
        job.unigram_bits = float(unigram_bits)
    if hyperparameters is not None:
        job.hyperparameters = hyperparameters


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
    job = _held(session, job_id, worker, lease)
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
    job = _owned(session, job_id, worker, lease)
    if job is None:
        return False
    if status == WorkStatus.cancelled or (status == WorkStatus.succeeded and job.cancel_requested):
        _cancel(job, error)
    else:
        work.end(job, status, error)
    job.heartbeat_at = utcnow()
    return True


def requeue_job(session: Session, job_id: int, worker: str, lease: str | None = None) -> str | None:
    """Hand a running job back to the queue (its worker is stopping gracefully): counted in
    `requeues`, not as an attempt. Returns the new dispatch token to send, or None when the job
    is no longer running there (under `lease`, when given)."""
    job = work.requeue(session, Job, job_id, worker, lease)
    if job is None:
        return None
    job.requeues += 1
    return job.dispatch_token


def worker_lost(job: Job, heartbeat_timeout: float, max_attempts: int) -> str | None:
    """A running job whose heartbeat stopped (the reconciler found it; locked by the caller):
    cancelled if a cancel was pending, failed once out of attempts, else back to the queue with a
    new token (returned, to send after commit)."""
    if job.cancel_requested:
        _cancel(job)
        return None
    if _out_of_attempts(job, max_attempts, f" (last one {job.worker}, silent for over {heartbeat_timeout:g} s)"):
        return None
    return work.back_to_queue(job)
