"""Fair queues, the workers' part: once a worker has taken a job or sample off the broker, it
dispatches the owner's next waiting one (shared.lifecycle.dispatch_after) and sends it. A failure
here is only logged: the reconciler dispatches any user with waiting work and nothing in flight,
and re-sends a dispatched record whose message is missing."""

from __future__ import annotations

import logging

from celery import Celery

from shared import lifecycle
from shared.db.models import Job, Sample
from shared.db.retry import run_in_session
from shared.queue import send_message

log = logging.getLogger(__name__)


def send_next(celery: Celery | None, table: type[Job] | type[Sample], record_id: int) -> None:
    """Dispatch and send the next waiting record of `record_id`'s owner, if it is their turn."""
    try:
        dispatch = run_in_session(
            lambda s: lifecycle.dispatch_after(s, table, record_id), "dispatching the owner's next record"
        )
        if dispatch is None:
            return
        if celery is None:
            raise RuntimeError("no Celery app to send with")
        send_message(celery, dispatch.kind, dispatch.record_id, dispatch.token)
        log.info("%s %s: dispatched (its owner's turn)", dispatch.kind, dispatch.record_id)
    except Exception as exc:  # noqa: BLE001  the reconciler's backstop sends it
        log.warning("could not dispatch the next record after %s %s: %s", table.__name__, record_id, exc)
