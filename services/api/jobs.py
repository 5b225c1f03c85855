"""Training jobs: create (queued for a training worker), list, read, cancel."""

import math

from flask import g
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shared.db.models import Corpus, Job, JobStatus, utcnow
from shared.engine.batching import min_corpus_chars
from shared.engine.config import Hyperparameters
from workers import celery_app as queue

from .auth import SECURITY, get_visible, require_user, visible
from .context import enqueue_or_fail, get_db, paginate
from .errors import ApiError, field_error
from .schemas import (
    EpochOut, ErrorBody, JobCreate, JobList, JobOut, JobPath, JobQuery, JobSummary, NoQuery, json_body_on,
)

LN2 = math.log(2)

bp = APIBlueprint(
    "jobs", __name__, url_prefix="/api/v1/jobs", abp_tags=[Tag(name="jobs")],
    abp_security=SECURITY, abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)
bp.before_request(json_body_on("jobs.create_job"))


def _eta(job: Job) -> float | None:
    if job.status not in (JobStatus.queued, JobStatus.running) or not job.epochs:
        return None
    mean = sum(e.seconds for e in job.epochs) / len(job.epochs)
    total = job.hyperparameters.get("epochs", job.epoch)
    return max(0.0, mean * (total - job.epoch - job.progress))


def summary(job: Job) -> dict:
    return dict(
        id=job.id, corpus_id=job.corpus_id, status=job.status, hyperparameters=job.hyperparameters,
        attempts=job.attempts, requeues=job.requeues, epoch=job.epoch, epochs=job.hyperparameters.get("epochs"), progress=job.progress,
        best_val_loss=job.best_val_loss, has_checkpoint=bool(job.epochs), cancel_requested=job.cancel_requested,
        error=job.error, created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        eta_seconds=_eta(job),
    )


def job_out(job: Job) -> dict:
    history = [
        EpochOut(
            epoch=e.epoch, loss=e.loss, val_loss=e.val_loss, loss_bits=e.loss / LN2,
            val_loss_bits=None if e.val_loss is None else e.val_loss / LN2,
            seconds=e.seconds, chars_per_second=e.chars_per_second,
        )
        for e in job.epochs
    ]
    out = JobOut(**summary(job), history=history, checkpoint_epochs=[e.epoch for e in job.epochs])
    return out.model_dump(mode="json")


def _check_length(corpus: Corpus, hp: Hyperparameters) -> None:
    need = min_corpus_chars(hp)
    if corpus.clean_chars >= need:
        return
    fields = ["batch_size", "seq_len"] if hp.stateful else ["seq_len"]
    msg = (f"corpus {corpus.id} has {corpus.clean_chars} characters after cleaning; "
           f"{' and '.join(f'{f} {getattr(hp, f)}' for f in fields)} need at least {need}")
    raise ApiError(422, "corpus too short for these hyperparameters", [field_error(f, msg) for f in fields])


@bp.post("", responses={202: JobOut, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody})
def create_job(body: JobCreate, query: NoQuery):
    """Queue a training job.

    The body is the corpus id plus any hyperparameters (defaults are the paper's); unknown fields
    are rejected with 422. The corpus must hold at least one batch after cleaning.
    """
    corpus = get_visible(Corpus, body.corpus_id)
    hp = Hyperparameters.model_validate(body.model_dump(exclude={"corpus_id"}))
    _check_length(corpus, hp)
    db = get_db()
    job = Job(owner_id=g.user.id, corpus_id=corpus.id, hyperparameters=hp.model_dump(mode="json"),
              status=JobStatus.queued, epochs=[])
    db.add(job)
    db.commit()
    enqueue_or_fail(job, queue.enqueue_training, JobStatus.failed, "job")
    return job_out(job), 202


@bp.get("", responses={200: JobList})
def list_jobs(query: JobQuery):
    """Your jobs, newest first; `?status=` filters."""
    stmt = visible(select(Job), Job).options(selectinload(Job.epochs)).order_by(Job.id.desc())
    if query.status is not None:
        stmt = stmt.where(Job.status == query.status)
    items, total = paginate(stmt, query.page, query.per_page)
    return JobList(items=[JobSummary(**summary(j)) for j in items], page=query.page,
                   per_page=query.per_page, total=total).model_dump(mode="json")


@bp.get("/<int:job_id>", responses={200: JobOut})
def get_job(path: JobPath, query: NoQuery):
    """One job with its per-epoch history."""
    return job_out(get_visible(Job, path.job_id))


@bp.post("/<int:job_id>/cancel", responses={200: JobOut, 202: JobOut, 409: ErrorBody})
def cancel_job(path: JobPath, query: NoQuery):
    """Cancel a job: a queued one at once (200), a running one at its next batch (202).

    Cancelling a cancelled job is a no-op (200); a succeeded or failed job answers 409.
    """
    get_visible(Job, path.job_id)
    db = get_db()
    # lock the row: a worker may be starting or finishing this job right now
    locked = select(Job).where(Job.id == path.job_id).with_for_update()
    job = db.scalar(locked.execution_options(populate_existing=True))
    if job.status in (JobStatus.succeeded, JobStatus.failed):
        raise ApiError(409, f"job {job.id} already {job.status.value}; nothing to cancel")
    status = 200
    if job.status == JobStatus.queued:
        job.status, job.finished_at = JobStatus.cancelled, utcnow()
        job.cancel_requested = True
    elif job.status == JobStatus.running:
        job.cancel_requested = True
        status = 202
    db.commit()
    return job_out(job), status
