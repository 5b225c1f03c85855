"""Commit, then send: the one owner of the rule every action that queues work follows.

A queue message names a committed record, so the transaction is committed before anything is
sent. A new record whose message the broker does not take is marked failed (committed: it must not
stay queued forever) and the action raises Unavailable. Another record dispatched in the same
transaction (an older one of the owner's, its turn come in the fair queue) is only logged when its
send fails: the reconciler sends it later (its message is missing from an empty queue)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from celery import Celery
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Analysis, Job, Sample
from shared.queue import send_message

from .errors import Unavailable

log = logging.getLogger(__name__)

Queued = Job | Sample | Analysis
KIND = {Job: "job", Sample: "sample", Analysis: "analysis"}
QUEUE = {"job": "job", "sample": "sample", "analysis": "sampling"}  # named in the refusal


def commit_and_send(
    session: Session,
    celery: Celery,
    new: Sequence[Queued] = (),
    dispatched: Iterable[lifecycle.Dispatch | None] = (),
) -> None:
    """Commit the session, then send the messages of this transaction: those the lifecycle noted
    (`take_dispatches`), `dispatched` (a cancel's next record), and each new analysis's (analyses
    have no fair queue). `new`: the records this action created, whose failed send is refused."""
    messages = [*lifecycle.take_dispatches(session), *(d for d in dispatched if d is not None)]
    session.commit()
    messages += [lifecycle.Dispatch("analysis", r.id, r.dispatch_token or "") for r in new if isinstance(r, Analysis)]
    created = {(KIND[type(r)], r.id): r for r in new}
    for message in messages:
        record = created.get((message.kind, message.record_id))
        try:
            send_message(celery, message.kind, message.record_id, message.token)
        except Exception as exc:
            if record is None:
                log.warning("could not send %s %s; the reconciler will", message.kind, message.record_id)
                continue
            log.exception("could not send the message of %s %s", message.kind, record.id)
            lifecycle.fail_unsent(record, str(exc))
            session.commit()
            raise Unavailable(f"the {QUEUE[message.kind]} queue is unavailable; {message.kind} not queued") from exc
