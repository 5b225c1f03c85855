"""The moves between the states of queued work: one rule for a training job, a sample and a neuron
analysis alike (their tables share the columns: status, worker, lease, attempts, dispatch_token,
dispatched_at, started_at, heartbeat_at, finished_at, error).

    queued -> running             claim: a new lease (the attempt's fencing token), one more attempt
    running -> queued             requeue: a worker stopping gracefully hands it back (not an attempt)
    running -> succeeded | failed finish: only the attempt holding the lease records; a cancelled
                                  record stays cancelled, and a record ends once
    queued | running -> cancelled cancel: at once (a running one's worker, told by its heartbeat,
                                  stores nothing); a succeeded or failed one raises
    running -> failed             fail_lost: its worker stopped (the reconciler found its heartbeat
                                  silent, or its message came again while it ran)
    queued -> failed              fail_unsent: its message could not be sent

Each message names the record's dispatch token: one whose token is not the record's current one
was superseded and is skipped; a queued record whose message the broker lost gets a new token
(`message_lost`). The heartbeat answers "ok", "cancel" (stop, store nothing) or "lost" (this
attempt no longer holds the record: stop, record nothing).

Jobs (jobs.py) add their own rules on top: a running job's cancel is a request its worker reads; a
job found running again is retried until it has used its attempts; epochs, checkpoints and the
vocabulary. samples.py and analyses.py keep only what differs: what their worker is given and their
results. Functions take the caller's session and never commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, object_session

from ..db.models import Analysis, Job, Sample, WorkStatus, as_utc, new_dispatch_token, new_lease, utcnow
from .sample_pieces import clear_pieces

Record = TypeVar("Record", Job, Sample, Analysis)
Request = TypeVar("Request", Sample, Analysis)  # failed, not retried, when its worker is lost
Described = TypeVar("Described")

MAX_ERROR_CHARS = 2000
HEARTBEAT_OK, HEARTBEAT_CANCEL, HEARTBEAT_LOST = "ok", "cancel", "lost"
TRACKS_PROGRESS = (Job, Sample)  # an analysis is one short pass: it has no progress column
LOST_SAMPLE = "the sampling worker stopped while generating this sample (crashed or killed); request it again"
LOST_ANALYSIS = "the sampling worker stopped while running this analysis (crashed or killed); request it again"


def clip(message: str) -> str:
    """An error text short enough to store and show."""
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 3] + "..."


def superseded(record: Job | Sample | Analysis, token: str | None) -> bool:
    """A message whose token is not the record's current one was replaced by a newer message."""
    return token is not None and record.dispatch_token is not None and token != record.dispatch_token


def fresh(heartbeat_at: datetime | None, timeout: float, now: datetime | None = None) -> bool:
    """A heartbeat younger than `timeout` seconds (at `now`); older, or none, is a lost worker."""
    moment = as_utc(heartbeat_at)
    return moment is not None and (now or utcnow()) - moment < timedelta(seconds=timeout)


def holds(record: Job | Sample | Analysis | None, lease: str | None) -> bool:
    """Whether the attempt holding `lease` may still record on `record`: it is running under that
    lease (None: the caller is not a worker's attempt, and only needs it running)."""
    return (
        record is not None
        and getattr(record.status, "value", record.status) == "running"
        and (lease is None or record.lease == lease)
    )


# ---- the moves: each is the one place its status is written ----------------------------------


def start(record: Job | Sample | Analysis, worker: str) -> str:
    """-> running on `worker` under a new lease (returned), one more attempt. `started_at` is the
    first start (attempts count the starts); the heartbeat starts now."""
    now, lease = utcnow(), new_lease()
    record.status, record.worker, record.lease = WorkStatus.running, worker, lease
    record.attempts += 1
    record.started_at = record.started_at or now
    record.heartbeat_at, record.finished_at, record.error = now, None, None
    if isinstance(record, TRACKS_PROGRESS):
        record.progress = 0.0
    _forget_pieces(record)
    return lease


def end(record: Job | Sample | Analysis, status: WorkStatus, error: str | None = None) -> None:
    """-> succeeded, failed or cancelled (`status`), with the reason (clipped); a succeeded record's
    progress is complete."""
    record.status, record.finished_at = status, utcnow()
    record.error = clip(error) if error else None
    if status == WorkStatus.succeeded and isinstance(record, TRACKS_PROGRESS):
        record.progress = 1.0
    _forget_pieces(record)


def _forget_pieces(record: Job | Sample | Analysis) -> None:
    """A sample's text as written so far (sample_pieces.py) is dropped when an attempt starts it
    afresh and when it ends: its stored text is then the one authority."""
    session = object_session(record)
    if isinstance(record, Sample) and session is not None and record.id is not None:
        clear_pieces(session, record.id)


def fail(record: Job | Sample | Analysis, reason: str) -> None:
    end(record, WorkStatus.failed, reason)


def cancel(record: Job | Sample | Analysis) -> None:
    end(record, WorkStatus.cancelled)


def redispatch(record: Job | Sample | Analysis) -> str:
    """Give a queued record a new dispatch token (its old messages become superseded); returns the
    token for the message the caller sends after commit."""
    record.dispatch_token, record.dispatched_at = new_dispatch_token(), utcnow()
    record.lease = None  # the attempt that held it (if any) may record nothing more
    return record.dispatch_token


def back_to_queue(record: Job | Sample | Analysis) -> str:
    """running -> queued (its worker stopped gracefully, or was lost): no worker, no progress, a new
    dispatch token (returned, to send after commit)."""
    record.status, record.worker = WorkStatus.queued, None
    if isinstance(record, TRACKS_PROGRESS):
        record.progress = 0.0
    return redispatch(record)


def fail_lost(record: Sample | Analysis) -> None:
    """Its worker stopped while running it (found by the reconciler, or by a redelivery): it fails
    with the reason of its kind (a crash that repeats, such as running out of memory, must not
    loop; asking again makes a new request). Jobs are retried instead (jobs.worker_lost)."""
    fail(record, LOST_SAMPLE if isinstance(record, Sample) else LOST_ANALYSIS)


def fail_unsent(record: Job | Sample | Analysis, error: str) -> None:
    """The message of a new record could not be sent: it must not stay queued forever."""
    fail(record, f"could not queue: {error}")


def message_lost(record: Job | Sample | Analysis) -> str | None:
    """A queued record whose message the broker lost (found by the reconciler; locked by the
    caller): a job with a pending cancel ends cancelled, anything else gets a new token (returned,
    to send after commit)."""
    if isinstance(record, Job) and record.cancel_requested:
        cancel(record)
        return None
    return redispatch(record)


# ---- the operations on a stored record -------------------------------------------------------


def claimable(session: Session, table: type[Record], record_id: int, token: str | None) -> Record | None:
    """The record, locked, when the message carrying `token` may claim it; None when it is
    unknown, finished, or the message was superseded."""
    record = session.get(table, record_id, with_for_update=True)
    if record is None or WorkStatus(record.status).finished or superseded(record, token):
        return None
    return record


def claim(
    session: Session,
    table: type[Request],
    record_id: int,
    worker: str,
    token: str | None,
    describe: Callable[[Request, str], Described],
    refuse: Callable[[Request], str | None] | None = None,
) -> Described | None:
    """Start this attempt on the record (`start`): what its worker needs, `describe(record,
    lease)`. None when there is nothing to do: see `claimable`; or it was found running (its
    worker was lost: `fail_lost`); or `refuse(record)` gives a reason not to run it (it fails with
    that reason)."""
    record = claimable(session, table, record_id, token)
    if record is None:
        return None
    if record.status == WorkStatus.running:
        fail_lost(record)
        return None
    reason = refuse(record) if refuse is not None else None
    if reason:
        fail(record, reason)
        return None
    return describe(record, start(record, worker))


def beat(
    session: Session,
    table: type[Job] | type[Sample] | type[Analysis],
    record_id: int,
    progress: float | None,
    worker: str,
    lease: str | None = None,
) -> bool:
    """Write the heartbeat (and progress) of a record running on `worker` (under `lease`, when
    given: the claim's fencing token); False when it is not (any longer) running there."""
    values: dict = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    mine = [table.id == record_id, table.status == "running", table.worker == worker]
    if lease is not None:
        mine.append(table.lease == lease)
    result = cast(CursorResult, session.execute(update(table).where(*mine).values(**values)))
    return result.rowcount > 0


def heartbeat(
    session: Session,
    table: type[Sample] | type[Analysis],
    record_id: int,
    progress: float | None,
    worker: str,
    lease: str | None = None,
) -> str:
    """The heartbeat of a running sample or analysis: "cancel" once it was cancelled (its worker stores
    nothing); "lost" when the attempt holding `lease` no longer holds it (found lost and failed,
    handed back, claimed again: its worker stops and records nothing); else "ok"."""
    if beat(session, table, record_id, progress, worker, lease):
        return HEARTBEAT_OK
    status = session.scalar(select(table.status).where(table.id == record_id))
    if status == WorkStatus.cancelled:
        return HEARTBEAT_CANCEL
    return HEARTBEAT_OK if lease is None else HEARTBEAT_LOST


class Finished(Exception):
    """A succeeded or failed record cannot be cancelled (`record`: as it is now)."""

    def __init__(self, record: Job | Sample | Analysis):
        kind, status = type(record).__name__.lower(), WorkStatus(record.status).value
        super().__init__(f"{kind} {record.id} already {status}; nothing to cancel")
        self.record = record


def locked(session: Session, table: type[Record], record_id: int) -> Record:
    """The record, locked and read afresh (a worker may be starting or finishing it right now);
    LookupError when there is none."""
    stmt = select(table).where(table.id == record_id).with_for_update().execution_options(populate_existing=True)
    record = session.scalar(stmt)
    if record is None:
        raise LookupError(f"{table.__name__.lower()} {record_id} not found")
    return record


def cancel_now(session: Session, table: type[Record], record_id: int, finished: type[Finished]) -> tuple[Record, bool]:
    """Cancel a queued or running record at once (a running one's worker stores nothing). Returns
    (record, changed): a cancelled one is unchanged; a succeeded or failed one raises `finished`
    (a `Finished` of its kind), an unknown one LookupError."""
    record = locked(session, table, record_id)
    status = WorkStatus(record.status)
    if status == WorkStatus.cancelled:
        return record, False
    if status.finished:
        raise finished(record)
    cancel(record)
    return record, True


def finish(
    session: Session, table: type[Record], record_id: int, error: str | None, lease: str | None, **results
) -> bool:
    """Succeeded with `results` (column values), or failed with `error`; a cancelled record stays
    cancelled. With `lease` (a worker's attempt), only while that attempt holds the record: a
    record ends once, and an attempt found lost records nothing (what it stored is swept as
    unreferenced). False when nothing changed."""
    record = session.get(table, record_id, with_for_update=True)
    if record is None or record.status == WorkStatus.cancelled:
        return False
    if lease is not None and not holds(record, lease):
        return False
    if error:
        fail(record, error)
        return True
    for column, value in results.items():
        setattr(record, column, value)
    end(record, WorkStatus.succeeded)
    return True


def held(session: Session, table: type[Record], record_id: int, worker: str, lease: str | None = None) -> Record | None:
    """The record, locked for the caller's transaction, while it runs on `worker` (and under
    `lease`, the attempt's fencing token, when given); else None."""
    record = session.get(table, record_id, with_for_update=True)
    return record if record is not None and holds(record, lease) and record.worker == worker else None


def requeue(
    session: Session, table: type[Record], record_id: int, worker: str, lease: str | None = None
) -> Record | None:
    """Hand a running record back to the queue (its worker is stopping gracefully): not counted as
    an attempt. The record (its new dispatch token to send after commit), or None when it no
    longer runs on `worker` under `lease` (cancelled meanwhile, found lost, claimed again)."""
    record = held(session, table, record_id, worker, lease)
    if record is None:
        return None
    record.attempts = max(0, record.attempts - 1)
    back_to_queue(record)
    return record
