"""Training jobs: create (queued for a training worker), list, read, cancel. Continue and fork
(lineage.py), labels (labels.py) and delete (deletion.py) are their own modules."""

from flask import current_app, g
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select

from shared import lifecycle
from shared.db.models import Corpus, Job, WorkStatus
from shared.engine.config import Hyperparameters
from shared.engine.data.batching import min_corpus_chars
from shared.engine.training.sizing import advice
from shared.engine.training.train import LN2
from shared.queue import send_message, send_training

from ..plumbing.context import get_celery, get_db
from ..plumbing.errors import ApiError, field_error
from .auth import SECURITY, get_visible, require_user, visible, visible_children
from .common import paginate, send_or_fail
from .label_fields import apply_labels
from .schemas import (
    EpochOut,
    ErrorBody,
    JobCreate,
    JobCreated,
    JobList,
    JobOut,
    JobPath,
    JobQuery,
    JobSummary,
    Lineage,
    NoQuery,
    json_body_on,
)

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
    """Names, notes, tags, lineage, storage and deletion (issue 12)."""
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
            loss=e.loss,
            val_loss=e.val_loss,
            loss_bits=e.loss / LN2,
            val_loss_bits=None if e.val_loss is None else e.val_loss / LN2,
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
    out = JobOut(**summary(job), history=history, checkpoint_epochs=checkpoints, lineage=lineage)
    return out.model_dump(mode="json")


def _check_length(corpus: Corpus, hyperparameters: Hyperparameters) -> None:
    need = min_corpus_chars(hyperparameters)
    if corpus.clean_chars >= need:
        return
    fields = ["batch_size", "seq_len"] if hyperparameters.stateful else ["seq_len"]
    msg = (
        f"corpus {corpus.id} has {corpus.clean_chars} characters after cleaning; "
        f"{' and '.join(f'{f} {getattr(hyperparameters, f)}' for f in fields)} need at least {need}"
    )
    raise ApiError(422, "corpus too short for these hyperparameters", [field_error(f, msg) for f in fields])


@bp.post(
    "", responses={202: JobCreated, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody}
)
def create_job(body: JobCreate, query: NoQuery):
    """Queue a training job.

    The body is the corpus id plus any hyperparameters (defaults are the paper's); unknown fields
    are rejected with 422. The corpus must hold at least one batch after cleaning. `warnings` in
    the answer: sizing advice (few batches per epoch, too many weights), each with what helps.
    """
    corpus = get_visible(Corpus, body.corpus_id)
    hyperparameters = body.hyperparameters
    _check_length(corpus, hyperparameters)
    db = get_db()
    job = lifecycle.create_job(db, g.user.id, corpus.id, hyperparameters)
    apply_labels(job, body)
    dispatches = lifecycle.take_dispatches(db)
    db.commit()
    for dispatch in dispatches:  # none: it waits for its owner's turn (fair queues)
        if dispatch.record_id == job.id:
            send_or_fail(job, send_training, "job")
        else:
            send_dispatched(dispatch)  # an older job of theirs whose send had failed
    warnings = advice(corpus.clean_chars, hyperparameters, corpus.clean_unique or 100)
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
    get_visible(Job, path.job_id)
    db = get_db()
    try:
        job, outcome = lifecycle.request_cancel(db, path.job_id)
    except lifecycle.AlreadyFinished as exc:
        raise ApiError(409, str(exc)) from exc
    dispatch = lifecycle.dispatch_after(db, Job, job.id) if outcome == lifecycle.CANCELLED else None
    db.commit()
    send_dispatched(dispatch)
    return job_out(job), 202 if job.status == WorkStatus.running else 200


def send_dispatched(dispatch: lifecycle.Dispatch | None) -> None:
    """Send the owner's next record, dispatched (and committed) because one left the queue; if the
    broker is down the reconciler sends it later (its message is missing from an empty queue)."""
    if dispatch is None:
        return
    try:
        send_message(get_celery(), dispatch.kind, dispatch.record_id, dispatch.token)
    except Exception:  # noqa: BLE001
        current_app.logger.warning("could not send %s %s; the reconciler will", dispatch.kind, dispatch.record_id)
