"""Live training loss: a running job's training loss within its epoch (Keras's running mean
over the epoch's batches so far), recorded by its worker at most every LIVE_LOSS_INTERVAL
seconds, so its curve moves before the first epoch ends."""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.models import BatchLoss, Job, JobStatus

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
    mine = [Job.id == job_id, Job.status == JobStatus.running]
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
    epoch run again after a worker was lost) keeps its latest value."""
    rows = session.execute(
        select(BatchLoss.epoch, BatchLoss.batch, BatchLoss.batches, BatchLoss.loss)
        .where(BatchLoss.job_id == job_id)
        .order_by(BatchLoss.id)
    ).all()
    latest = {(epoch - 1 + batch / batches): loss for epoch, batch, batches, loss in rows}
    points = sorted(latest.items())
    if len(points) > max_points:
        stride = len(points) / max_points
        points = [points[int(i * stride)] for i in range(max_points - 1)] + [points[-1]]
    return points
