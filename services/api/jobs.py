"""Training jobs: create (queued for a training worker), list, read, cancel. Continue and fork
(lineage.py), labels (labels.py) and delete (removals.py) are their own modules; each calls
one action (shared/actions/jobs.py)."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared import lifecycle
from shared.actions import jobs
from shared.actions.inputs import NoQuery
from shared.db.models import Job, WorkStatus
from shared.engine.training.sizing import advice
from shared.engine.units import LN2, bits

from ..plumbing.context import get_celery, get_db
from .auth import SECURITY, get_visible, require_user, visible, visible_children
from .common import paginate
from .hooks import json_body_on
from .schemas.common import ErrorBody
from .schemas.jobs import EpochOut, JobCreate, JobCreated, JobList, JobOut, JobPath, JobQuery, JobSummary
from .schemas.lineage import Lineage

bp = APIBlueprint(
    "jobs",
    __name__,
    url_prefix="/api/v1/jobs",
    abp_tags=[Tag(name="jobs")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)
bp.before_request(json_body_on("jobs.create_job"))


def summary(job: Job) -> dict:
    hyperparameters = job.hyperparameters
    return {
        **labels_of(job),
        "id": job.id,
        "corpus_id": job.corpus_id,
        "status": job.status,
        "hyperparameters": hyperparameters,
        "attempts": job.attempts,
        "requeues": job.requeues,
        "epoch": job.epoch,
        "epochs": hyperparameters.epochs,
        "progress": job.progress,
        "best_val_loss_bits": bits(job.best_val_loss),
        "best_val_loss_nats": job.best_val_loss,
        "best_val_loss": job.best_val_loss,
        "has_checkpoint": job.epoch > 0,
        "cancel_requested": job.cancel_requested,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "eta_seconds": lifecycle.eta_seconds(job),
    }


def labels_of(job: Job) -> dict:
    """Names, notes, tags, lineage, storage and deletion."""
    return {
        "name": job.name,
        "notes": job.notes,
        "tags": job.tags,
        "parent_id": job.parent_id,
        "storage_bytes": lifecycle.retention.storage_bytes(job),
        "deleting": job.deleting_at is not None,
    }


def job_out(job: Job) -> dict:

    history = [
        EpochOut(
            epoch=e.epoch,
            loss_bits=e.loss / LN2,
            val_loss_bits=bits(e.val_loss),
            loss_nats=e.loss,
            val_loss_nats=e.val_loss,
            loss=e.loss,
            val_loss=e.val_loss,
            seconds=e.seconds,
            chars_per_second=e.chars_per_second,
        )
        for e in lifecycle.lineage.lineage_epochs(get_db(), job)
    ]
    lineage = Lineage(
        parent_id=job.parent_id,
        parent_epoch=job.parent_epoch,
        children=[c.id for c in visible_children(job)],
    )
    checkpoints = [e.epoch for e in lifecycle.stored_checkpoints(job)]
    learning = lifecycle.learning_of(job)  # reads the epochs: on one job's answer, never in a list
    out = JobOut(
        **summary(job),
        history=history,
        checkpoint_epochs=checkpoints,
        lineage=lineage,
        learning=learning.to_dict() if learning is not None else None,
    )
    return out.model_dump(mode="json")


@bp.post(
    "", responses={202: JobCreated, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody}
)
def create_job(body: JobCreate, query: NoQuery):
    """Queue a training job.

    The body is the corpus id plus any hyperparameters (defaults are the paper's); unknown fields
    are rejected with 422. The corpus must hold at least one batch after cleaning. `warnings` in
    the answer: sizing advice (few batches per epoch, too many weights), each with what helps.
    """
    job = jobs.create_job(get_db(), get_celery(), g.user, body.corpus_id, body.hyperparameters, labels=body)
    corpus = job.corpus
    warnings = advice(corpus.clean_chars, body.hyperparameters, corpus.clean_unique or 100)
    return {**job_out(job), "warnings": warnings}, 202


@bp.get("", responses={200: JobList})
def list_jobs(query: JobQuery):
    """Your jobs, newest first; `?status=` and `?tag=` filter. Jobs being deleted are left out."""
    stmt = visible(select(Job), Job).where(Job.deleting_at.is_(None)).order_by(Job.id.desc())
    if query.status is not None:
        stmt = stmt.where(Job.status == query.status)
    if query.tag is not None:
        stmt = stmt.where(Job.tags_text.contains(f",{query.tag},", autoescape=True))
    items, total = paginate(stmt, query.page, query.per_page)
    return JobList(
        items=[JobSummary(**summary(j)) for j in items], page=query.page, per_page=query.per_page, total=total
    ).model_dump(mode="json")


@bp.get("/<int:job_id>", responses={200: JobOut})
def get_job(path: JobPath, query: NoQuery):
    """One job with its per-epoch history."""
    return job_out(get_visible(Job, path.job_id))


@bp.post("/<int:job_id>/cancel", responses={200: JobOut, 202: JobOut, 409: ErrorBody})
def cancel_job(path: JobPath, query: NoQuery):
    """Cancel a job: a queued one at once (200), a running one at its next batch (202).

    Cancelling a cancelled job is a no-op (200); a succeeded or failed job answers 409.
    """
    job = jobs.cancel_job(get_db(), get_celery(), g.user, path.job_id)
    return job_out(job), 202 if job.status == WorkStatus.running else 200
