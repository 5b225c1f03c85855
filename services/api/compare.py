"""Run comparison: the validation curves of a set of jobs (or a sweep's) in bits/char, optionally
smoothed, and a table of the varied hyperparameters, best validation bits/char and its epoch,
speed and sample quality (shared/actions/compare.py). Also a running job's live training loss."""

from flask import g
from flask_openapi3 import APIBlueprint, Tag

from shared import lifecycle
from shared.actions import compare
from shared.actions.inputs import NoQuery
from shared.db.models import Job
from shared.engine.units import LN2
from shared.settings import get_settings

from ..plumbing.context import get_db
from .auth import SECURITY, get_visible, require_user
from .schemas.common import ErrorBody
from .schemas.jobs import JobPath
from .schemas.sweeps import CompareOut, CompareQuery, LiveLossOut

bp = APIBlueprint(
    "compare",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="compare")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)


@bp.get("/compare", responses={200: CompareOut})
def compare_runs(query: CompareQuery):
    """Compare jobs: `?jobs=1,2,3` or `?sweep=ID`, optional `smoothing` (0-1, as TensorBoard's).

    Curves are validation bits/char per epoch (raw and smoothed), training bits/char per epoch and
    the live training loss within epochs; the table names the hyperparameters that vary, the best
    validation bits/char and its epoch, mean seconds per epoch and characters per second, and the
    mean quality of the job's sample texts where they were measured.
    """
    db = get_db()
    jobs = compare.selected_jobs(db, g.user, query.job_ids, query.sweep)
    return CompareOut(**compare.comparison(db, jobs, query.smoothing)).model_dump(mode="json")


@bp.get("/jobs/<int:job_id>/live-loss", responses={200: LiveLossOut})
def live_loss(path: JobPath, query: NoQuery):
    """A job's training loss within its epochs, recorded at most every LIVE_LOSS_INTERVAL seconds
    while it runs (Keras's running mean over the epoch's batches so far), in bits/char."""
    job = get_visible(Job, path.job_id)
    points = [[x, loss / LN2] for x, loss in lifecycle.batch_losses(get_db(), job.id)]
    return LiveLossOut(
        job_id=job.id, status=job.status, interval_seconds=get_settings().live_loss_interval, points=points
    ).model_dump(mode="json")
