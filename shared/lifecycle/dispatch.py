"""What jobs and samples share: dispatch tokens, fair dispatch, heartbeats, error texts, the unsent
message.

Fair queues: a user has at most one dispatched-but-unclaimed job (and one sample) in the broker;
their other queued records wait in the database with `dispatched_at` NULL. Whenever a user's
record leaves the broker (claimed, cancelled, failed to start or to send), whoever made that change
calls `dispatch_next` and sends the user's next record after committing; the reconciler does the
same for any user with waiting records and nothing in flight (a backstop). So the queues take the
users in turns: one user's 50 jobs delay another user's first job by at most one job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from ..db.models import Analysis, Job, Sample, User, WorkStatus, as_utc, new_dispatch_token, utcnow

MAX_ERROR_CHARS = 2000
HEARTBEAT_OK, HEARTBEAT_CANCEL, HEARTBEAT_LOST = "ok", "cancel", "lost"


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


def redispatch(record: Job | Sample | Analysis) -> str:
    """Give a queued job, sample or analysis a new dispatch token (its old messages become superseded);
    returns the token for the message the caller sends after committing."""
    record.dispatch_token, record.dispatched_at = new_dispatch_token(), utcnow()
    record.lease = None  # the attempt that held it (if any) may record nothing more
    return record.dispatch_token


def fail_unsent(record: Job | Sample, error: str) -> None:
    """The message of a new job or sample could not be sent: it must not stay queued forever."""
    record.status = WorkStatus.failed
    record.error, record.finished_at = clip(f"could not queue: {error}"), utcnow()


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


def beat_or_cancel(
    session: Session,
    table: type[Sample] | type[Analysis],
    record_id: int,
    progress: float | None,
    worker: str,
    lease: str | None = None,
) -> str:
    """The heartbeat of a running sample or analysis: "cancel" once it was cancelled (its worker
    stores nothing); "lost" when the attempt holding `lease` no longer holds the record (found lost
    and failed, handed back, claimed again: its worker stops and records nothing); else "ok"."""
    if beat(session, table, record_id, progress, worker, lease):
        return HEARTBEAT_OK
    status = session.scalar(select(table.status).where(table.id == record_id))
    if status == "cancelled":
        return HEARTBEAT_CANCEL
    return HEARTBEAT_OK if lease is None else HEARTBEAT_LOST


def holds(record: Job | Sample | Analysis | None, lease: str | None) -> bool:
    """Whether the attempt holding `lease` may still record on `record`: it is running under that
    lease (None: the caller is not a worker's attempt, and only needs it running)."""
    return (
        record is not None
        and getattr(record.status, "value", record.status) == "running"
        and (lease is None or record.lease == lease)
    )


Cancellable = TypeVar("Cancellable", Sample, Analysis)


def cancel_now(
    session: Session, table: type[Cancellable], record_id: int, finished: Callable[[Cancellable], Exception]
) -> tuple[Cancellable, bool]:
    """Cancel a queued or running sample or analysis at once (a running one's worker stores
    nothing). Returns (record, changed): a cancelled one is unchanged; a succeeded or failed one
    raises `finished(record)`, an unknown one LookupError."""
    stmt = select(table).where(table.id == record_id).with_for_update().execution_options(populate_existing=True)
    record = session.scalar(stmt)
    if record is None:
        raise LookupError(f"{table.__name__.lower()} {record_id} not found")
    status = WorkStatus(record.status)
    if status == WorkStatus.cancelled:
        return record, False
    if status.finished:
        raise finished(record)
    record.status = WorkStatus.cancelled
    record.finished_at = utcnow()
    return record, True


DISPATCHES = "charlstm.dispatches"  # session.info key


@dataclass(frozen=True)
class Dispatch:
    """A message to send after commit: "job" or "sample", the record's id and dispatch token."""

    kind: str
    record_id: int
    token: str


def dispatch_next(session: Session, table: type[Job] | type[Sample], owner_id: int) -> Dispatch | None:
    """Dispatch `owner_id`'s oldest waiting (undispatched, queued) record of `table`, unless they
    already have one dispatched and unclaimed. Returns the message to send after commit, or None.
    Serialised per user (their row is locked), so two callers never dispatch two at once."""
    session.execute(select(User.id).where(User.id == owner_id).with_for_update())
    queued = (table.owner_id == owner_id, table.status == "queued")
    in_flight = session.scalar(select(func.count()).select_from(table).where(*queued, table.dispatched_at.is_not(None)))
    if in_flight:
        return None
    stmt = select(table).where(*queued, table.dispatched_at.is_(None)).order_by(table.id).limit(1)
    record = cast("Job | Sample | None", session.scalars(stmt).first())
    if record is None:
        return None
    return Dispatch("job" if table is Job else "sample", record.id, redispatch(record))


def dispatch_for_new(session: Session, table: type[Job] | type[Sample], owner_id: int) -> None:
    """After creating a record: dispatch the owner's next (the new one, or an older one still
    waiting) and note it in the session for `take_dispatches`."""
    dispatch = dispatch_next(session, table, owner_id)
    if dispatch is not None:
        session.info.setdefault(DISPATCHES, []).append(dispatch)


def take_dispatches(session: Session) -> list[Dispatch]:
    """The messages that create_job/create_sample dispatched in this session, to send after
    commit (taken: a second call returns none)."""
    return session.info.pop(DISPATCHES, [])


def dispatch_after(session: Session, table: type[Job] | type[Sample], record_id: int) -> Dispatch | None:
    """`record_id` left the broker (claimed, cancelled, failed): dispatch its owner's next record."""
    owner_id = session.scalar(select(table.owner_id).where(table.id == record_id))
    return None if owner_id is None else dispatch_next(session, table, owner_id)


def waiting_owners(session: Session, table: type[Job] | type[Sample]) -> list[int]:
    """Users with waiting (undispatched, queued) records of `table`: the reconciler's backstop."""
    stmt = select(table.owner_id).where(table.status == "queued", table.dispatched_at.is_(None)).distinct()
    return sorted(session.scalars(stmt))


def hold(record: Job | Sample) -> None:
    """A new record waits undispatched until `dispatch_next` picks it."""
    record.dispatched_at = None
