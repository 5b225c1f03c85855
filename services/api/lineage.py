"""Continue and fork a finished, cancelled or failed job: a new job that starts from its latest
checkpoint, linked to it (shared/actions/jobs.py: create_child). A job's children are listed as the
current user may see them: their own only, every one for an admin."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag

from shared.actions.inputs import NoQuery
from shared.actions.jobs import create_child

from ..plumbing.context import get_celery, get_db
from .auth import SECURITY, require_user
from .hooks import json_body_on
from .jobs import job_out
from .schemas.common import ErrorBody
from .schemas.jobs import JobOut, JobPath
from .schemas.lineage import JobContinue, JobFork

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


@bp.post("/<int:job_id>/continue", responses=RESPONSES)
def continue_job(path: JobPath, body: JobContinue, query: NoQuery):
    """Continue a finished, cancelled or failed job for `epochs` more epochs.

    A new job (linked by `lineage.parent_id`) starts from the job's latest checkpoint with its
    weights, optimizer state and history: its epochs number on from the parent's last one, and
    its `history` shows the parent's epochs first. 409 while the job is queued or running.
    """
    return job_out(create_child(get_db(), get_celery(), g.user, path.job_id, body.epochs, {})), 202


@bp.post("/<int:job_id>/fork", responses=RESPONSES)
def fork_job(path: JobPath, body: JobFork, query: NoQuery):
    """Fork a finished, cancelled or failed job with non-architectural changes.

    Like continue, with learning_rate, optimizer (its state is dropped when it changes),
    clipnorm, dropout, batch_size or patience changed. Changing the network or its data (layers,
    units, seq_len, mode, ...) answers 422.
    """
    return job_out(create_child(get_db(), get_celery(), g.user, path.job_id, body.epochs, body.changes())), 202
