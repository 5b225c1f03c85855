"""Live training loss: a running job's training loss within its epoch (Keras's running mean
over the epoch's batches so far), recorded by its worker at most every LIVE_LOSS_INTERVAL
seconds, so its curve moves before the first epoch ends."""

from __future__ import annotations

import math

from sqlalchemy import Float, cast, func, or_, select
from sqlalchemy.orm import Session

from ..db.models import BatchLoss, Job, WorkStatus

MAX_POINTS = 2000  # points one read returns at most (evenly thinned beyond it)


def record_batch_loss(
    session: Session,
    job_id: int,
    epoch: int,
    batch: int,
    batches: int,
    loss: float,
    worker: str | None = None,
    lease: str | None = None,
) -> bool:
    """Add one point while the job runs (on `worker` under `lease`, when given); False (nothing
    written) when it does not, or the loss is not a finite number."""
    if not math.isfinite(loss):
        return False
    mine = [Job.id == job_id, Job.status == WorkStatus.running]
    if worker is not None:
        mine.append(Job.worker == worker)
    if lease is not None:
        mine.append(Job.lease == lease)
    if session.scalar(select(Job.id).where(*mine)) is None:
        return False
    session.add(BatchLoss(job_id=job_id, epoch=epoch, batch=batch, batches=max(1, batches), loss=float(loss)))
    return True


def batch_losses(session: Session, job_id: int, max_points: int = MAX_POINTS) -> list[tuple[float, float]]:
    """(position in epochs, loss in nats) of the job's recorded points, in order: position
    `epoch - 1 + batch / batches` (2.5: half way through epoch 3). A point recorded twice (an
    epoch run again after a worker was lost) keeps its latest value. Past `max_points` the points
    are thinned in the database (evenly spaced by rank, the first and the last kept): a read
    fetches at most `max_points` rows however many were recorded."""
    latest = (
        select(func.max(BatchLoss.id).label("id"))
        .where(BatchLoss.job_id == job_id)
        .group_by(BatchLoss.epoch, BatchLoss.batch, BatchLoss.batches)
        .subquery()
    )
    position = BatchLoss.epoch - 1 + cast(BatchLoss.batch, Float) / BatchLoss.batches
    ranked = (
        select(
            position.label("position"),
            BatchLoss.loss,
            (func.row_number().over(order_by=(position, BatchLoss.id)) - 1).label("n"),
            func.count().over().label("total"),
        )
        .join(latest, latest.c.id == BatchLoss.id)
        .subquery()
    )
    # buckets of ranks n * buckets // total: the first rank of each bucket, and the last rank
    buckets = max(1, max_points - 1)
    first_of_bucket = (ranked.c.n * buckets) // ranked.c.total != ((ranked.c.n - 1) * buckets) // ranked.c.total
    keep = or_(ranked.c.total <= max_points, ranked.c.n == 0, ranked.c.n == ranked.c.total - 1, first_of_bucket)
    rows = session.execute(select(ranked.c.position, ranked.c.loss).where(keep).order_by(ranked.c.n)).all()
    return [(float(x), float(loss)) for x, loss in rows][-max_points:] if max_points > 0 else []
