"""What a web request uses, for the API and the admin pages alike: one database session per
request (committed when the answer is a success, rolled back otherwise, closed at teardown), the
object store, the Celery app (to send messages) and the bearer token of the request.

Every dependency answers within DEPENDENCY_TIMEOUT or fails (services/api/errors.py makes that a
503): the database sessions come from a web engine with connect, pool and statement timeouts, and
the object store has short timeouts and few retries (the workers keep their long ones)."""

from __future__ import annotations

from celery import Celery
from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from shared.db.session import normalize_url, web_sessionmaker
from shared.queue import make_celery
from shared.settings import Settings
from shared.storage import ObjectStore, store_from_settings

STORE, CELERY = "charlstm.store", "celery"


def settings() -> Settings:
    return current_app.config["SETTINGS"]


def get_db() -> Session:
    """The request's session, opened on first use."""
    if "db" not in g:
        s = settings()
        g.db = web_sessionmaker(current_app.config["DATABASE_URL"], s.dependency_timeout, s.statement_timeout)()
    return g.db


def get_store() -> ObjectStore:
    """The app's object store (built once from the app's settings)."""
    return current_app.extensions[STORE]


def get_celery() -> Celery:
    """The app's Celery app: send messages through shared.queue with it."""
    return current_app.extensions[CELERY]


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


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
    app.config.update(SETTINGS=settings, DATABASE_URL=normalize_url(settings.resolved_database_url))
    app.extensions[STORE] = store_from_settings(settings, request_time=True)
    app.extensions[CELERY] = make_celery(settings)
    app.after_request(_finish)
    app.teardown_appcontext(_close)
