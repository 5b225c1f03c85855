"""What jobs and samples share: dispatch tokens, heartbeats, error texts, the unsent message."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from ..db.models import Job, JobStatus, Sample, SampleStatus, as_utc, new_dispatch_token, utcnow

MAX_ERROR_CHARS = 2000
HEARTBEAT_OK, HEARTBEAT_CANCEL, HEARTBEAT_LOST = "ok", "cancel", "lost"


def clip(message: str) -> str:
    """An error text short enough to store and show."""
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 3] + "..."


def superseded(record: Job | Sample, token: str | None) -> bool:
    """A message whose token is not the record's current one was replaced by a newer message."""
    return token is not None and record.dispatch_token is not None and token != record.dispatch_token


def fresh(heartbeat_at: datetime | None, timeout: float) -> bool:
    moment = as_utc(heartbeat_at)
    return moment is not None and utcnow() - moment < timedelta(seconds=timeout)


def redispatch(record: Job | Sample) -> str:
    """Give a queued job or sample a new dispatch token (its old messages become superseded);
    returns the token for the message the caller sends after committing."""
    record.dispatch_token, record.dispatched_at = new_dispatch_token(), utcnow()
    return record.dispatch_token


def fail_unsent(record: Job | Sample, error: str) -> None:
    """The message of a new job or sample could not be sent: it must not stay queued forever."""
    record.status = JobStatus.failed if isinstance(record, Job) else SampleStatus.failed
    record.error, record.finished_at = clip(f"could not queue: {error}"), utcnow()


def beat(
    session: Session, table: type[Job] | type[Sample], record_id: int, progress: float | None, worker: str
) -> bool:
    """Write the heartbeat (and progress) of a record running on `worker`; False when it is not
    (any longer) running there."""
    values: dict = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    mine = (table.id == record_id, table.status == "running", table.worker == worker)
    result = cast(CursorResult, session.execute(update(table).where(*mine).values(**values)))
    return result.rowcount > 0
