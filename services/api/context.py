"""What a request uses: its database session (committed or rolled back with the request) and the
object store; plus pagination."""

from flask import Flask, current_app, g
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from shared.db.session import sessionmaker_for
from shared.settings import Settings
from shared.storage import ObjectStore, get_store


def get_db() -> Session:
    """The request's session, opened on first use."""
    if "db" not in g:
        g.db = sessionmaker_for(current_app.config["DATABASE_URL"])()
    return g.db


def get_object_store() -> ObjectStore:
    """The app's object store (built once from the app's settings)."""
    return current_app.extensions["charlstm.store"]


def enqueue_or_fail(record, enqueue, failed_status, what: str) -> None:
    """Send the task for a committed Job or Sample; if the broker is down, mark the record failed
    (it must not stay queued forever) and answer 503."""
    from shared.db.models import utcnow

    from .errors import ApiError

    try:
        enqueue(record.id, record.dispatch_token)
    except Exception as exc:  # noqa: BLE001 - any broker error means the task was not sent
        current_app.logger.exception("could not enqueue %s %s", what, record.id)
        record.status, record.error, record.finished_at = failed_status, f"could not queue: {exc}", utcnow()
        get_db().commit()
        raise ApiError(503, f"the {what} queue is unavailable; {what} not queued") from exc


def paginate(stmt: Select, page: int, per_page: int) -> tuple[list, int]:
    db = get_db()
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(db.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return items, total


def _finish(response):
    db = g.get("db")
    if db is not None:
        if response.status_code < 400:
            db.commit()
        else:
            db.rollback()
    return response


def _close(_exc) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()  # rolls back anything left uncommitted


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["charlstm.store"] = get_store(settings)
    app.after_request(_finish)
    app.teardown_appcontext(_close)
