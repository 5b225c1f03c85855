"""Run comparison's reads: the jobs to compare (named, or a sweep's) as the user may see them,
and their comparison (shared/research/comparison.py) with their samples' quality figures and
their live training loss."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shared import lifecycle
from shared.db.models import Job, Sample, Sweep, User, WorkStatus
from shared.research.comparison import compare, run_from_job

from .access import MAX_ID, get_visible, visible
from .errors import Invalid, NotFound, field_error

MAX_JOBS = 100  # jobs one comparison takes at most


def selected_jobs(
    session: Session, user: User, job_ids: list[int] | None, sweep_id: int | None, epochs: bool = True
) -> list[Job]:
    """The jobs to compare, in the order asked (a sweep: its jobs by id), at most MAX_JOBS
    whichever way they are named (Invalid past it); NotFound for one not the user's. `epochs`:
    with their Epoch rows loaded."""
    if sweep_id is not None:
        sweep = get_visible(session, user, Sweep, sweep_id)
        stmt = select(Job.id).where(Job.sweep_id == sweep.id).order_by(Job.id).limit(MAX_JOBS + 1)
        ids = list(session.scalars(stmt))
        if len(ids) > MAX_JOBS:
            msg = f"at most {MAX_JOBS} jobs; the sweep has more (compare some of its jobs with ?jobs=)"
            raise Invalid("too many jobs", [field_error("sweep", msg)])
    else:
        ids = list(dict.fromkeys(job_ids or []))
        if len(ids) > MAX_JOBS:
            raise Invalid("too many jobs", [field_error("jobs", f"at most {MAX_JOBS} jobs, got {len(ids)}")])
    for job_id in ids:
        if not 1 <= job_id <= MAX_ID:
            raise NotFound(f"job {job_id} not found")
    query = visible(select(Job).where(Job.id.in_(ids)), Job, user)
    if epochs:
        query = query.options(selectinload(Job.epochs))
    found = {job.id: job for job in session.scalars(query)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"job {missing[0]} not found")
    return [found[i] for i in ids]


def comparison(session: Session, jobs: list[Job], smoothing: float) -> dict:
    """shared.research.comparison.compare of these jobs, with their succeeded samples' quality
    figures and their live training loss."""
    samples: dict[int, list[Sample]] = {job.id: [] for job in jobs}
    stmt = select(Sample).where(Sample.job_id.in_(list(samples)), Sample.status == WorkStatus.succeeded)
    for sample in session.scalars(stmt):
        samples[sample.job_id].append(sample)
    runs = [run_from_job(job, samples[job.id], lifecycle.batch_losses(session, job.id)) for job in jobs]
    return compare(runs, smoothing)
