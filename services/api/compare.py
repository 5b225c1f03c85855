"""Run comparison: the validation curves of a set of jobs (or a sweep's) in bits/char, optionally
smoothed, and a table of the varied hyperparameters, best validation bits/char and its epoch,
speed and sample quality (shared/research/comparison.py). Also a running job's live training loss."""

from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shared import lifecycle
from shared.db.models import Job, Sample, Sweep, WorkStatus
from shared.engine.training.train import LN2
from shared.research.comparison import compare, run_from_job
from shared.settings import get_settings

from ..plumbing.context import get_db
from ..plumbing.errors import ApiError, field_error
from .auth import MAX_ID, SECURITY, get_visible, require_user, visible
from .schemas import ErrorBody, JobPath, NoQuery
from .sweep_schemas import CompareOut, CompareQuery, LiveLossOut

MAX_JOBS = 100  # jobs one comparison takes at most

bp = APIBlueprint(
    "compare",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="compare")],
    abp_security=SECURITY,
    abp_responses={401: ErrorBody, 404: ErrorBody, 422: ErrorBody},
)
bp.before_request(require_user)


def selected_jobs(job_ids: list[int] | None, sweep_id: int | None, epochs: bool = True) -> list[Job]:
    """The jobs to compare, in the order asked (a sweep: its jobs by id), at most MAX_JOBS
    whichever way they are named (422 past it); 404 for one not yours. `epochs`: with their
    Epoch rows loaded."""
    db = get_db()
    if sweep_id is not None:
        sweep = get_visible(Sweep, sweep_id)
        ids = list(db.scalars(select(Job.id).where(Job.sweep_id == sweep.id).order_by(Job.id).limit(MAX_JOBS + 1)))
        if len(ids) > MAX_JOBS:
            msg = f"at most {MAX_JOBS} jobs; the sweep has more (compare some of its jobs with ?jobs=)"
            raise ApiError(422, "too many jobs", [field_error("sweep", msg)])
    else:
        ids = list(dict.fromkeys(job_ids or []))
        if len(ids) > MAX_JOBS:
            raise ApiError(422, "too many jobs", [field_error("jobs", f"at most {MAX_JOBS} jobs, got {len(ids)}")])
    for job_id in ids:
        if not 1 <= job_id <= MAX_ID:
            raise ApiError(404, f"job {job_id} not found")
    stmt = visible(select(Job).where(Job.id.in_(ids)), Job)
    if epochs:
        stmt = stmt.options(selectinload(Job.epochs))
    found = {job.id: job for job in db.scalars(stmt)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApiError(404, f"job {missing[0]} not found")
    return [found[i] for i in ids]


def comparison(jobs: list[Job], smoothing: float) -> dict:
    """shared.research.comparison.compare of these jobs, with their succeeded samples' quality figures and
    their live training loss."""
    db = get_db()
    samples: dict[int, list[Sample]] = {job.id: [] for job in jobs}
    stmt = select(Sample).where(Sample.job_id.in_(list(samples)), Sample.status == WorkStatus.succeeded)
    for sample in db.scalars(stmt):
        samples[sample.job_id].append(sample)
    runs = [run_from_job(job, samples[job.id], lifecycle.batch_losses(db, job.id)) for job in jobs]
    return compare(runs, smoothing)


@bp.get("/compare", responses={200: CompareOut})
def compare_runs(query: CompareQuery):
    """Compare jobs: `?jobs=1,2,3` or `?sweep=ID`, optional `smoothing` (0-1, as TensorBoard's).

    Curves are validation bits/char per epoch (raw and smoothed), training bits/char per epoch and
    the live training loss within epochs; the table names the hyperparameters that vary, the best
    validation bits/char and its epoch, mean seconds per epoch and characters per second, and the
    mean quality of the job's sample texts where they were measured.
    """
    ids = [int(part) for part in query.jobs.split(",")] if query.jobs else None
    jobs = selected_jobs(ids, query.sweep)
    return CompareOut(**comparison(jobs, query.smoothing)).model_dump(mode="json")


@bp.get("/jobs/<int:job_id>/live-loss", responses={200: LiveLossOut})
def live_loss(path: JobPath, query: NoQuery):
    """A job's training loss within its epochs, recorded at most every LIVE_LOSS_INTERVAL seconds
    while it runs (Keras's running mean over the epoch's batches so far), in bits/char."""
    job = get_visible(Job, path.job_id)
    points = [[x, loss / LN2] for x, loss in lifecycle.batch_losses(get_db(), job.id)]
    return LiveLossOut(
        job_id=job.id, status=job.status, interval_seconds=get_settings().live_loss_interval, points=points
    ).model_dump(mode="json")
