"""The fleet's figures, read from the database in one pass for a metrics scrape
(services/plumbing/metrics/): the jobs, samples and analyses per status, each queue's depth
(registry.queue_depths) and the age of its oldest queued record, the registered worker processes
(registry.fleet: alive, lost or stopped, with their role), and the speed of what runs now: each
running job's latest recorded epoch (characters per second, seconds) and each running sample's
characters per second so far.

Every read is a GROUP BY count, a MIN, or a read of the running records (a handful: one per
worker slot); nothing loads the finished history. Functions take the caller's session and never
commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ..db.models import Analysis, Epoch, Job, Sample, WorkStatus, as_utc, utcnow
from . import registry

if TYPE_CHECKING:
    from celery import Celery

KINDS: dict[str, type[Job] | type[Sample] | type[Analysis]] = {"job": Job, "sample": Sample, "analysis": Analysis}


@dataclass(frozen=True)
class QueueFigures:
    """One queue: its records by state (waiting its owner's turn, dispatched, running), the broker's
    count of waiting messages (None: not asked or no answer) and how long its oldest queued record
    has existed (seconds since it was created; 0 when none is queued)."""

    queue: str
    waiting: int
    dispatched: int
    running: int
    broker: int | None
    oldest_queued_seconds: float


@dataclass(frozen=True)
class WorkerFigures:
    """A registered worker process: its node name, role, host and state (alive, lost, stopped)."""

    name: str
    role: str
    hostname: str
    state: str


@dataclass(frozen=True)
class TrainingFigures:
    """A running job's latest recorded epoch."""

    job_id: int
    epoch: int
    chars_per_second: float
    epoch_seconds: float


@dataclass(frozen=True)
class SamplingFigures:
    """A running sample: the characters generated so far per second since it started (its model's
    loading included)."""

    sample_id: int
    job_id: int
    chars_per_second: float


@dataclass(frozen=True)
class FleetFigures:
    counts: dict[str, dict[str, int]]  # kind (job, sample, analysis) -> status -> records
    queues: list[QueueFigures]
    workers: list[WorkerFigures]
    training: list[TrainingFigures]
    sampling: list[SamplingFigures]


def fleet_figures(
    session: Session,
    lost_after_seconds: float,
    celery: Celery | None = None,
    broker_timeout: float = registry.BROKER_TIMEOUT,
) -> FleetFigures:
    """Everything a scrape shows about the fleet. With `celery`, each queue's broker depth too
    (registry.queue_depths: a silent broker costs at most `broker_timeout` seconds)."""
    now = utcnow()
    oldest = oldest_queued(session)
    depths = registry.queue_depths(session, celery, broker_timeout)
    queues = [
        QueueFigures(
            queue=d.queue,
            waiting=d.waiting,
            dispatched=d.dispatched,
            running=d.running,
            broker=d.broker,
            oldest_queued_seconds=max(0.0, (now - oldest[d.queue]).total_seconds()) if d.queue in oldest else 0.0,
        )
        for d in depths
    ]
    return FleetFigures(
        counts=status_counts(session),
        queues=queues,
        workers=workers(session, lost_after_seconds),
        training=running_training(session),
        sampling=running_sampling(session, now),
    )


def status_counts(session: Session) -> dict[str, dict[str, int]]:
    """Records per status for each kind, every status present (0 when none)."""
    counts = {}
    for kind, table in KINDS.items():
        found = {status.value: 0 for status in WorkStatus}
        for status, n in session.execute(select(table.status, func.count()).group_by(table.status)):
            found[WorkStatus(status).value] = n
        counts[kind] = found
    return counts


def oldest_queued(session: Session) -> dict[str, datetime]:
    """Each queue's oldest queued record's creation time (queues with none queued are absent)."""
    found: dict[str, datetime] = {}
    for queue, tables in registry.QUEUE_RECORDS.items():
        for table in tables:
            first = as_utc(session.scalar(select(func.min(table.created_at)).where(table.status == WorkStatus.queued)))
            if first is not None and (queue not in found or first < found[queue]):
                found[queue] = first
    return found


def workers(session: Session, lost_after_seconds: float) -> list[WorkerFigures]:
    """The registry's processes, one per node name: the newest start of a name (a restarted worker
    keeps its name, and its older rows say only that it once ran)."""
    newest: dict[str, registry.WorkerView] = {}
    for view in registry.fleet(session, lost_after_seconds).workers:
        if view.name not in newest or view.started_at > newest[view.name].started_at:
            newest[view.name] = view
    return [WorkerFigures(v.name, v.role, v.hostname, v.state) for v in newest.values()]


def running_training(session: Session) -> list[TrainingFigures]:
    """Each running job's latest recorded epoch (a job still in its first epoch has none yet)."""
    running = Job.status == WorkStatus.running
    latest = (
        select(Epoch.job_id, func.max(Epoch.epoch).label("epoch"))
        .join(Job, Job.id == Epoch.job_id)
        .where(running)
        .group_by(Epoch.job_id)
        .subquery()
    )
    stmt = (
        select(Epoch.job_id, Epoch.epoch, Epoch.chars_per_second, Epoch.seconds)
        .join(latest, and_(Epoch.job_id == latest.c.job_id, Epoch.epoch == latest.c.epoch))
        .order_by(Epoch.job_id)
    )
    return [TrainingFigures(job_id, epoch, cps, seconds) for job_id, epoch, cps, seconds in session.execute(stmt)]


def running_sampling(session: Session, now: datetime | None = None) -> list[SamplingFigures]:
    """Each running sample's speed so far: its fraction done of length x texts, per second since
    it started (the worker generates all its texts side by side, so progress counts every text)."""
    now = now or utcnow()
    columns = (Sample.id, Sample.job_id, Sample.length, Sample.count, Sample.temperatures, Sample.progress)
    stmt = select(*columns, Sample.started_at).where(Sample.status == WorkStatus.running).order_by(Sample.id)
    found = []
    for sample_id, job_id, length, count, temperatures, progress, started_at in session.execute(stmt):
        started = as_utc(started_at)
        if started is None:
            continue
        elapsed = (now - started).total_seconds()
        chars = (progress or 0.0) * length * count * len(temperatures or [])
        found.append(SamplingFigures(sample_id, job_id, chars / elapsed if elapsed > 0 else 0.0))
    return found
