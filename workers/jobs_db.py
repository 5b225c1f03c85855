"""Database steps of the worker tasks. Each function works in the caller's session (the caller
owns the transaction, usually `session_scope()`), and returns plain data, never ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.db.models import Epoch, Job, JobStatus, Sample, SampleStatus, utcnow

# a job found `running` when its message arrives again was on a worker that died; after this many
# attempts in total it fails instead of being retried again
MAX_ATTEMPTS = 3
MAX_ERROR_CHARS = 2000


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


def claim_job(session: Session, job_id: int, worker: str, max_attempts: int = MAX_ATTEMPTS) -> TrainingWork | None:
    """Mark the job running for this attempt; None when there is nothing to do."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or JobStatus(job.status).finished:
        return None
    now = utcnow()
    if job.cancel_requested:
        job.status, job.finished_at = JobStatus.cancelled, now
        return None
    if job.status == JobStatus.running and job.attempts >= max_attempts:
        job.status, job.finished_at = JobStatus.failed, now
        job.error = f"gave up after {job.attempts} attempts: the worker running this job stopped each time"
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


def heartbeat(session: Session, job_id: int, progress: float | None = None) -> None:
    values = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    session.execute(update(Job).where(Job.id == job_id).values(**values))


def cancel_requested(session: Session, job_id: int) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def record_epoch(session: Session, job_id: int, report, checkpoint_key: str) -> None:
    """Insert (or replace) the Epoch row and advance the job: epoch, best_val_loss, progress."""
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


def finish_job(session: Session, job_id: int, status: JobStatus, error: str | None = None) -> None:
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        return
    job.status, job.finished_at, job.heartbeat_at = status, utcnow(), utcnow()
    job.error = _clip(error) if error else None
    if status == JobStatus.succeeded:
        job.progress = 1.0


def claim_sample(session: Session, sample_id: int) -> SamplingWork | None:
    sample = session.get(Sample, sample_id, with_for_update=True)
    if sample is None or sample.status in (SampleStatus.succeeded, SampleStatus.failed):
        return None
    if sample.status == SampleStatus.running and sample.attempts >= MAX_ATTEMPTS:
        sample.status, sample.finished_at = SampleStatus.failed, utcnow()
        sample.error = f"gave up after {sample.attempts} attempts: the worker running this sample stopped each time"
        return None
    sample.status = SampleStatus.running
    sample.attempts += 1
    sample.started_at = utcnow()
    sample.error = None
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
