"""The worker registry: one `WorkerProcess` row per worker process start (a Celery worker node, the
reconciler), written by the process itself (workers/registration.py) and read by the admin
workers page and `charlstm admin workers`. No broker broadcast is needed to know the fleet.

A process registers when it starts (`register`: a new `instance` id), heartbeats its row every
HEARTBEAT_INTERVAL (`beat`) and marks it stopped on a clean stop (`stopped`). Read back
(`fleet`), a row is alive, lost (its heartbeat older than `lost_after` seconds, HEARTBEAT_TIMEOUT:
the same rule as for a running job's heartbeat) or stopped. What a process runs is not stored on
its row: it is the running jobs, samples and analyses whose `worker` is its node name, the string
every claim records. Rows whose last heartbeat is older than KEEP_SECONDS are not shown and may
be deleted (`prune`).

Queue depths (`queue_depths`): the queued records per queue from the database (waiting for their
owner's turn, or dispatched: their message sent), the running ones, and the broker's own count of
waiting messages when the caller passes its Celery app (asked in a thread with a deadline, so a
broker that hangs or is down costs at most `broker_timeout` seconds and becomes a message).

Functions take the caller's session and never commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import CursorResult, delete, func, null, select, update
from sqlalchemy.orm import Session

from ..db.models import Analysis, Job, Sample, WorkerProcess, as_utc, new_dispatch_token, utcnow
from ..queue import QUEUES, SAMPLING_QUEUE, TRAINING_QUEUE, queue_depth
from .work import fresh

if TYPE_CHECKING:
    from celery import Celery

ALIVE, LOST, STOPPED = "alive", "lost", "stopped"
KEEP_SECONDS = 24 * 3600.0  # a stopped or lost process is shown (and kept) this long after its last heartbeat
MAX_SHOWN = 200  # processes listed at most, the most recently heard of first (a crash loop adds a row a start)
BROKER_TIMEOUT = 2.0  # seconds the broker's queue depths may take before they are given up
RUNNING = "running"
# which records travel on which queue (the queue contract routes analyses to the sampling queue)
QUEUE_RECORDS: dict[str, tuple[type[Job] | type[Sample] | type[Analysis], ...]] = {
    TRAINING_QUEUE: (Job,),
    SAMPLING_QUEUE: (Sample, Analysis),
}
KIND_OF = {Job: "job", Sample: "sample", Analysis: "analysis"}


@dataclass(frozen=True)
class Identity:
    """What a process registers about itself."""

    name: str  # the node name its claims record as `worker` (Celery's hostname, e.g. training@host)
    hostname: str
    role: str  # training, sampling, reconciler
    pid: int
    version: str
    backend: str | None = None
    devices: str | None = None
    queues: Sequence[str] = ()
    concurrency: int | None = None


def register(session: Session, identity: Identity) -> str:
    """Add a row for a process that just started; returns its instance id (for `beat`/`stopped`)."""
    instance = new_dispatch_token()  # a random 16-hex-digit id, as a message's token is
    now = utcnow()
    session.add(
        WorkerProcess(
            instance=instance,
            name=identity.name,
            hostname=identity.hostname,
            role=identity.role,
            pid=identity.pid,
            version=identity.version[:64],
            backend=identity.backend,
            devices=(identity.devices or None) and identity.devices[:255],
            queues=list(identity.queues),
            concurrency=identity.concurrency,
            started_at=now,
            heartbeat_at=now,
        )
    )
    session.flush()
    return instance


def beat(session: Session, instance: str) -> bool:
    """Write a running process's heartbeat; False when its row is gone (pruned while the process
    was cut off) or marked stopped: the process registers again."""
    stmt = (
        update(WorkerProcess)
        .where(WorkerProcess.instance == instance, WorkerProcess.stopped_at.is_(None))
        .values(heartbeat_at=utcnow())
    )
    return cast(CursorResult, session.execute(stmt)).rowcount > 0


def stopped(session: Session, instance: str) -> None:
    """A clean stop: the row shows as stopped (not lost) from now on."""
    now = utcnow()
    mine = WorkerProcess.instance == instance
    session.execute(update(WorkerProcess).where(mine).values(stopped_at=now, heartbeat_at=now))


def prune(session: Session, keep_seconds: float = KEEP_SECONDS) -> int:
    """Delete the rows of processes last heard of more than `keep_seconds` ago (stopped or lost);
    returns how many."""
    cutoff = utcnow() - timedelta(seconds=keep_seconds)
    result = session.execute(delete(WorkerProcess).where(WorkerProcess.heartbeat_at < cutoff))
    return cast(CursorResult, result).rowcount


def state(row: WorkerProcess, lost_after: float, now: datetime | None = None) -> str:
    """alive, lost (silent for `lost_after` seconds or more) or stopped."""
    if row.stopped_at is not None:
        return STOPPED
    return ALIVE if fresh(row.heartbeat_at, lost_after, now) else LOST  # the jobs' rule for a lost worker


@dataclass(frozen=True)
class Held:
    """A running job, sample or analysis as its worker holds it."""

    kind: str  # job, sample, analysis
    id: int
    job_id: int
    worker: str
    started_at: datetime | None
    progress: float | None


@dataclass(frozen=True)
class WorkerView:
    """One registered process as the fleet shows it."""

    instance: str
    name: str
    hostname: str
    role: str
    pid: int
    version: str
    backend: str | None
    devices: str | None
    queues: list[str]
    concurrency: int | None
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    state: str
    holds: list[Held] = field(default_factory=list)


@dataclass(frozen=True)
class Fleet:
    """The registered processes (alive first, then lost, then stopped), and the running records
    whose worker is no registered process (one that started before the registry, say)."""

    workers: list[WorkerView]
    unregistered: list[Held]

    def count(self, which: str) -> int:
        return sum(1 for w in self.workers if w.state == which)


STATE_ORDER = {ALIVE: 0, LOST: 1, STOPPED: 2}


def fleet(session: Session, lost_after_seconds: float, keep_seconds: float = KEEP_SECONDS) -> Fleet:
    """Every process heard of within `keep_seconds` (the MAX_SHOWN most recent), with its state and
    what it runs. A running record belongs to the newest process of its worker's name (a restarted
    worker keeps its name)."""
    now = utcnow()
    cutoff = now - timedelta(seconds=keep_seconds)
    recent = select(WorkerProcess).where(WorkerProcess.heartbeat_at >= cutoff)
    rows = session.scalars(recent.order_by(WorkerProcess.heartbeat_at.desc()).limit(MAX_SHOWN)).all()
    newest: dict[str, WorkerProcess] = {}
    for row in rows:
        if row.name not in newest or as_utc(row.started_at) > as_utc(newest[row.name].started_at):  # type: ignore[operator]
            newest[row.name] = row
    holds: dict[str, list[Held]] = {}
    unregistered = []
    for held in running_records(session):
        if held.worker in newest:
            holds.setdefault(newest[held.worker].instance, []).append(held)
        else:
            unregistered.append(held)
    views = [_view(row, state(row, lost_after_seconds, now), holds.get(row.instance, [])) for row in rows]
    views.sort(key=lambda v: (STATE_ORDER[v.state], v.role, v.name, -v.started_at.timestamp()))
    return Fleet(views, unregistered)


def running_records(session: Session) -> list[Held]:
    """The running jobs, samples and analyses, each with the worker it runs on."""
    found = []
    for table in (Job, Sample, Analysis):
        of_job = table.id if table is Job else table.job_id  # type: ignore[union-attr]
        progress = getattr(table, "progress", null())  # an analysis is one short pass: no progress
        stmt = (
            select(table.id, of_job, table.worker, table.started_at, progress)
            .where(table.status == RUNNING)
            .order_by(table.id)
        )
        for record_id, job_id, worker, started_at, fraction in session.execute(stmt):
            found.append(Held(KIND_OF[table], record_id, job_id, worker or "", as_utc(started_at), fraction))
    return found


def _view(row: WorkerProcess, current: str, holds: list[Held]) -> WorkerView:
    return WorkerView(
        instance=row.instance,
        name=row.name,
        hostname=row.hostname,
        role=row.role,
        pid=row.pid,
        version=row.version,
        backend=row.backend,
        devices=row.devices,
        queues=list(row.queues or []),
        concurrency=row.concurrency,
        started_at=cast(datetime, as_utc(row.started_at)),
        last_seen=cast(datetime, as_utc(row.heartbeat_at)),
        stopped_at=as_utc(row.stopped_at),
        state=current,
        holds=holds,
    )


# ---- queue depths ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDepth:
    """One queue: its records in the database and the messages its broker holds."""

    queue: str
    kinds: tuple[str, ...]  # what travels on it: job; sample, analysis
    waiting: int  # queued, not yet dispatched (waiting for their owner's turn)
    dispatched: int  # queued with their message sent, not yet claimed
    running: int
    broker: int | None = None  # messages waiting in the broker; None: not asked, or no answer
    broker_error: str | None = None


def queue_depths(
    session: Session,
    celery: Celery | None = None,
    broker_timeout: float = BROKER_TIMEOUT,
    queues: Iterable[str] = QUEUES,
) -> list[QueueDepth]:
    """Each queue's queued and running records, and its broker depth when `celery` is given (a
    broker that is down or silent for `broker_timeout` s becomes `broker_error`, never raises)."""
    names = list(queues)
    counted = {name: _record_counts(session, name) for name in names}
    broker: dict[str, int] = {}
    error = None
    if celery is not None:
        broker, error = broker_depths(celery, names, broker_timeout)
    return [
        QueueDepth(
            queue=name,
            kinds=tuple(KIND_OF[t] for t in QUEUE_RECORDS.get(name, ())),
            waiting=counted[name][0],
            dispatched=counted[name][1],
            running=counted[name][2],
            broker=broker.get(name),
            broker_error=None if name in broker else error,
        )
        for name in names
    ]


def _record_counts(session: Session, queue: str) -> tuple[int, int, int]:
    waiting = dispatched = running = 0
    for table in QUEUE_RECORDS.get(queue, ()):
        stmt = (
            select(table.status, table.dispatched_at.is_(None), func.count())
            .where(table.status.in_(["queued", RUNNING]))
            .group_by(table.status, table.dispatched_at.is_(None))
        )
        for status, undispatched, n in session.execute(stmt):
            if status == RUNNING:
                running += n
            elif undispatched:
                waiting += n
            else:
                dispatched += n
    return waiting, dispatched, running


def broker_depths(celery: Celery, queues: Sequence[str], timeout: float) -> tuple[dict[str, int], str | None]:
    """({queue: messages waiting}, None), or what is known and why the rest is missing. Asked in a
    daemon thread: whatever the broker does, the caller waits at most `timeout` seconds."""
    found: dict[str, int] = {}
    failure: list[str] = []

    def ask() -> None:
        for name in queues:
            try:
                found[name] = queue_depth(celery, name)
            except Exception as exc:  # noqa: BLE001 - the caller shows it
                failure.append(_describe(exc))
                return

    thread = threading.Thread(target=ask, name="broker-depths", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return dict(found), f"the broker did not answer within {timeout:g} s"
    return found, (failure[0] if failure else None)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
