"""What the resource blueprints share: pagination, and sending a new record's queue message."""

from collections.abc import Callable

from celery import Celery
from flask import current_app
from sqlalchemy import Select, func, select

from shared import lifecycle
from shared.db.models import Job, Sample

from ..plumbing.context import get_celery, get_db
from ..plumbing.errors import ApiError


def paginate(stmt: Select, page: int, per_page: int) -> tuple[list, int]:
    db = get_db()
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return items, total


def send_or_fail(record: Job | Sample, send: Callable[[Celery, int, str | None], None], what: str) -> None:
    """Send the message of a committed job or sample; if the broker is down, mark the record failed
    (it must not stay queued forever) and answer 503."""
    try:
        send(get_celery(), record.id, record.dispatch_token)
    except Exception as exc:
        current_app.logger.exception("could not send the message of %s %s", what, record.id)
        lifecycle.fail_unsent(record, str(exc))
        get_db().commit()
        raise ApiError(503, f"the {what} queue is unavailable; {what} not queued") from exc
