"""The admin pages' database session: one per request, opened on first use, closed at teardown.

Views call `db_session()` and nothing else, so moving to the API's own request session later is
a one-line change here (e.g. `from services.api.context import get_db as db_session`).
"""

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from shared.db.session import sessionmaker_for

_G_KEY = "_charlstm_admin_db"


def db_session() -> Session:
    """The request's session on `app.config["DATABASE_URL"]` (the settings' URL when unset)."""
    session = g.get(_G_KEY)
    if session is None:
        session = sessionmaker_for(current_app.config.get("DATABASE_URL") or None)()
        setattr(g, _G_KEY, session)
    return session


def _close(_exc: BaseException | None = None) -> None:
    session = g.pop(_G_KEY, None)
    if session is not None:
        session.close()  # rolls back whatever was not committed


def init_db(app: Flask) -> None:
    app.teardown_appcontext(_close)
