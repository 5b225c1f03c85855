"""Database steps of the worker tasks. Each function works in the caller's session (the caller
owns the transaction, usually `session_scope()`), and returns plain data, never ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db.models import Epoch, Job, JobStatus, Sample, SampleStatus, as_utc, new_dispatch_token, utcnow
from shared.settings import get_settings

MAX_ERROR_CHARS = 2000


class JobLost(Exception):
    """The job was given to another worker (this one was silent too long): stop, touch nothing."""
LOST_SAMPLE = "the sampling worker stopped while generating this sample (crashed or killed); request it again"


@dataclass(frozen=True)
class TrainingWork:
    job_id: int
    hyperparameters: dict
    corpus_key: str
    attempts: int
    resume_epoch: int | None  # latest recorded epoch, resumed from its checkpoint
    resume_key: str | None


@dataclass(frozen=True)
class SamplingWork:
    sample_id: int
    job_id: int
    checkpoint_key: str
    length: int
    temperatures: list[float]
    count: int
    seed_text: str | None
    random_seed: int | None


def _clip(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 3] + "..."


@dataclass(frozen=True)
class Busy:
    """The job is running on another worker whose heartbeat is fresh."""

    worker: str | None
    heartbeat_at: datetime


def _superseded(record, token: str | None) -> bool:
    return token is not None and record.dispatch_token is not None and token != record.dispatch_token


def _fresh(heartbeat_at: datetime | None, timeout: float) -> bool:
    return heartbeat_at is not None and utcnow() - as_utc(heartbeat_at) < timedelta(seconds=timeout)


def give_up(job: Job, detail: str = "") -> None:
    """Fail a job whose worker kept stopping: it has used all its attempts."""
    job.status, job.finished_at = JobStatus.failed, utcnow()
    job.error = f"gave up after {job.attempts} attempts: the worker running this job stopped each time{detail}"


def claim_job(
    session: Session, job_id: int, worker: str, token: str | None = None,
    max_attempts: int | None = None, heartbeat_timeout: float | None = None,
) -> TrainingWork | Busy | None:
    """Mark the job running for this attempt. None when there is nothing to do (finished, unknown,
    superseded message, cancelled, out of attempts); Busy while another live worker runs it.
    max_attempts and heartbeat_timeout default to the settings.

    A job found `running` whose message arrives again was on a worker that died: this worker's own
    previous pool process, or another worker whose heartbeat stopped."""
    settings = get_settings()
    max_attempts = max_attempts or settings.max_attempts
    heartbeat_timeout = settings.heartbeat_timeout if heartbeat_timeout is None else heartbeat_timeout
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or JobStatus(job.status).finished or _superseded(job, token):
        return None
    now = utcnow()
    if job.cancel_requested:
        job.status, job.finished_at = JobStatus.cancelled, now
        return None
    if job.status == JobStatus.running:
        if job.worker != worker and _fresh(job.heartbeat_at, heartbeat_timeout):
            return Busy(job.worker, as_utc(job.heartbeat_at))
        if job.attempts >= max_attempts:
            give_up(job)
            return None
    job.status = JobStatus.running
    job.attempts += 1
    job.started_at = job.heartbeat_at = now
    job.finished_at = None
    job.error = None
    job.worker = worker
    job.progress = 0.0
    latest = session.scalars(
        select(Epoch).where(Epoch.job_id == job_id).order_by(Epoch.epoch.desc()).limit(1)
    ).first()
    return TrainingWork(
        job_id=job.id,
        hyperparameters=dict(job.hyperparameters or {}),
        corpus_key=job.corpus.object_key,
        attempts=job.attempts,
        resume_epoch=latest.epoch if latest else None,
        resume_key=latest.checkpoint_key if latest else None,
    )


def requeue_job(session: Session, job_id: int, worker: str | None = None) -> str | None:
    """Hand a running job back to the queue (its worker is stopping): not counted as an attempt.
    Returns the new dispatch token to send, or None when the job is no longer running (there)."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status != JobStatus.running or (worker is not None and job.worker != worker):
        return None
    job.status, job.worker, job.progress = JobStatus.queued, None, 0.0
    job.attempts = max(0, job.attempts - 1)
    job.requeues += 1
    return redispatch(job)


def redispatch(record) -> str:
    """Give a queued job or sample a new dispatch token (its old messages become superseded)."""
    record.dispatch_token, record.dispatched_at = new_dispatch_token(), utcnow()
    return record.dispatch_token


def heartbeat(session: Session, job_id: int, progress: float | None, worker: str) -> str:
    """Record that `worker` is alive on the job (and its progress). Returns "cancel" when the job
    was asked to stop, "lost" when it is no longer running on this worker (the reconciler gave
    it to another one), else "ok"."""
    if not _beat(session, Job, job_id, progress, worker):
        return "lost"
    return "cancel" if cancel_requested(session, job_id) else "ok"


def sample_heartbeat(session: Session, sample_id: int, progress: float | None, worker: str) -> str:
    _beat(session, Sample, sample_id, progress, worker)
    return "ok"  # a sample marked lost that still finishes is stored all the same


def _beat(session: Session, table, record_id: int, progress: float | None, worker: str) -> bool:
    values = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    mine = (table.id == record_id, table.status == "running", table.worker == worker)
    return session.execute(update(table).where(*mine).values(**values)).rowcount > 0


def owns(session: Session, job_id: int, worker: str) -> bool:
    """Whether the job is running on `worker` (locked for the caller's transaction)."""
    job = session.get(Job, job_id, with_for_update=True)
    return job is not None and job.status == JobStatus.running and job.worker == worker


def cancel_requested(session: Session, job_id: int) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def record_epoch(session: Session, job_id: int, report, checkpoint_key: str, worker: str | None = None) -> None:
    """Insert (or replace) the Epoch row and advance the job: epoch, best_val_loss, progress.
    With `worker`, raises JobLost unless the job is still running on it."""
    if worker is not None and not owns(session, job_id, worker):
        raise JobLost(f"job {job_id} is no longer running on {worker}")
    job = session.get(Job, job_id, with_for_update=True)
    row = session.scalars(select(Epoch).where(Epoch.job_id == job_id, Epoch.epoch == report.epoch)).first()
    if row is None:
        row = Epoch(job_id=job_id, epoch=report.epoch)
        session.add(row)
    row.loss, row.val_loss = report.loss, report.val_loss
    row.seconds, row.chars_per_second = report.seconds, report.chars_per_second
    row.checkpoint_key = checkpoint_key
    job.epoch = report.epoch
    if report.val_loss is not None and (job.best_val_loss is None or report.val_loss < job.best_val_loss):
        job.best_val_loss = report.val_loss
    job.progress = 0.0
    job.heartbeat_at = utcnow()


def finish_job(session: Session, job_id: int, status: JobStatus, error: str | None = None,
               worker: str | None = None) -> bool:
    """End the job; with `worker`, only while it runs there (False when another worker owns it)."""
    if worker is not None and not owns(session, job_id, worker):
        return False
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        return False
    job.status, job.finished_at, job.heartbeat_at = status, utcnow(), utcnow()
    job.error = _clip(error) if error else None
    if status == JobStatus.succeeded:
        job.progress = 1.0
    return True


def claim_sample(session: Session, sample_id: int, worker: str = "", token: str | None = None) -> SamplingWork | None:
    """Mark the sample running; None when there is nothing to do. A sample found `running` when its
    message arrives again was on a worker that crashed: it fails with that reason (a crash that
    repeats, such as running out of memory, must not loop); asking again makes a new request."""
    sample = session.get(Sample, sample_id, with_for_update=True)
    if sample is None or sample.status in (SampleStatus.succeeded, SampleStatus.failed) or _superseded(sample, token):
        return None
    now = utcnow()
    if sample.status == SampleStatus.running:
        sample.status, sample.finished_at = SampleStatus.failed, now
        sample.error = LOST_SAMPLE
        return None
    sample.status, sample.worker = SampleStatus.running, worker
    sample.attempts += 1
    sample.started_at = sample.heartbeat_at = now
    sample.progress, sample.error = 0.0, None
    return SamplingWork(
        sample_id=sample.id,
        job_id=sample.job_id,
        checkpoint_key=sample.checkpoint_key,
        length=sample.length,
        temperatures=[float(t) for t in sample.temperatures],
        count=sample.count or 1,
        seed_text=sample.seed_text,
        random_seed=sample.random_seed,
    )


def finish_sample(session: Session, sample_id: int, object_key: str | None = None, error: str | None = None) -> None:
    sample = session.get(Sample, sample_id, with_for_update=True)
    if sample is None:
        return
    sample.status = SampleStatus.failed if error else SampleStatus.succeeded
    sample.object_key = object_key
    sample.error = _clip(error) if error else None
    sample.finished_at = utcnow()
    if not error:
        sample.progress = 1.0
