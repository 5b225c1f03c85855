"""Fair dispatch of queued jobs and samples (the states' moves are work.py's).

Fair queues: a user has at most one dispatched-but-unclaimed job (and one sample) in the broker;
their other queued records wait in the database with `dispatched_at` NULL. Whenever a user's
record leaves the broker (claimed, cancelled, failed to start or to send), whoever made that change
calls `dispatch_next` and sends the user's next record after committing; the reconciler does the
same for any user with waiting records and nothing in flight (a backstop). So the queues take the
users in turns: one user's 50 jobs delay another user's first job by at most one job. Analyses are
short (one pass over a bounded text): they are sent at once, with no turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import Job, Sample, User
from .work import redispatch

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


def take_dispatches(session: Session) -> list[Dispatch]:
    """The messages that create_job/create_sample dispatched in this session, to send after
    commit (taken: a second call returns none)."""
    return session.info.pop(DISPATCHES, [])


def dispatch_after(session: Session, table: type[Job] | type[Sample], record_id: int) -> Dispatch | None:
    """`record_id` left the broker (claimed, cancelled, failed): dispatch its owner's next record."""
    owner_id = session.scalar(select(table.owner_id).where(table.id == record_id))
    return None if owner_id is None else dispatch_next(session, table, owner_id)


def waiting_owners(session: Session, table: type[Job] | type[Sample]) -> list[int]:
    """Users with waiting (undispatched, queued) records of `table` and none in the broker: the
    reconciler's backstop. One query over the queued records only (EXCEPT, not a lookup per
    waiting record), and users whose turn is already in the broker are left out, so that a round
    costs what is queued, not every user with a backlog or the whole table."""
    queued = (table.status == "queued",)
    waiting = select(table.owner_id).where(*queued, table.dispatched_at.is_(None))
    in_flight = select(table.owner_id).where(*queued, table.dispatched_at.is_not(None))
    return sorted(session.scalars(waiting.except_(in_flight)))


def add_waiting(session: Session, record: Job | Sample) -> None:
    """Store a new queued record (flushed: it has its id) waiting undispatched until
    `dispatch_next` picks it, then dispatch its owner's next (this one, or an older one still
    waiting) and note it in the session for `take_dispatches`."""
    session.add(record)
    session.flush()
    record.dispatched_at = None  # after the INSERT: its column default would fill a None in
    dispatch = dispatch_next(session, type(record), record.owner_id)
    if dispatch is not None:
        session.info.setdefault(DISPATCHES, []).append(dispatch)
