"""Continue and fork a finished, cancelled or failed job: a new job that starts from its latest
checkpoint, linked to it (shared/lifecycle/lineage.py). A job's children are listed as the
current user may see them: their own only, every one for an admin."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag

from shared import lifecycle
from shared.db.models import Job
from shared.queue import send_training

from ..plumbing.context import get_db
from ..plumbing.errors import ApiError, field_error
from .auth import SECURITY, get_visible, require_user
from .common import send_or_fail
from .jobs import _check_length, job_out, send_dispatched
from .schemas import ErrorBody, JobContinue, JobFork, JobOut, JobPath, NoQuery, json_body_on

bp = APIBlueprint(
    "lineage",
    __name__,
    url_prefix="/api/v1/jobs",
    abp_tags=[Tag(name="jobs")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)
bp.before_request(json_body_on("lineage.continue_job", "lineage.fork_job"))

RESPONSES: dict = {
    202: JobOut,
    400: ErrorBody,
    409: ErrorBody,
    413: ErrorBody,
    415: ErrorBody,
    429: ErrorBody,
    503: ErrorBody,
}


def _child(parent: Job, more_epochs: int, changes: dict):
    db = get_db()
    try:
        child = lifecycle.lineage.create_child_job(db, parent, g.user.id, more_epochs, changes)
    except lifecycle.lineage.NotContinuable as exc:
        raise ApiError(409, str(exc)) from exc
    except ValueError as exc:
        raise ApiError(422, str(exc), [field_error(k, str(exc)) for k in changes] or None) from exc
    _check_length(parent.corpus, child.hyperparameters)
    dispatches = lifecycle.take_dispatches(db)
    db.commit()
    for dispatch in dispatches:
        if dispatch.record_id == child.id:
            send_or_fail(child, send_training, "job")
        else:
            send_dispatched(dispatch)
    return job_out(child), 202


@bp.post("/<int:job_id>/continue", responses=RESPONSES)
def continue_job(path: JobPath, body: JobContinue, query: NoQuery):
    """Continue a finished, cancelled or failed job for `epochs` more epochs.

    A new job (linked by `lineage.parent_id`) starts from the job's latest checkpoint with its
    weights, optimizer state and history: its epochs number on from the parent's last one, and
    its `history` shows the parent's epochs first. 409 while the job is queued or running.
    """
    return _child(get_visible(Job, path.job_id), body.epochs, {})


@bp.post("/<int:job_id>/fork", responses=RESPONSES)
def fork_job(path: JobPath, body: JobFork, query: NoQuery):
    """Fork a finished, cancelled or failed job with non-architectural changes.

    Like continue, with learning_rate, optimizer (its state is dropped when it changes),
    clipnorm, dropout, batch_size or patience changed. Changing the network or its data (layers,
    units, seq_len, mode, ...) answers 422.
    """
    parent = get_visible(Job, path.job_id)
    more = body.epochs or max(1, parent.hyperparameters.epochs - parent.epoch)
    return _child(parent, more, body.changes())
