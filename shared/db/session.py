"""Engines and sessions, one engine per URL per process.

A URL of None means DATABASE_URL as it is now (settings are read on each call, so tests that
change the environment and clear get_settings' cache get the new database).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from ..settings import get_settings


def normalize_url(url: str) -> str:
    """`postgres://` and `postgresql://` mean psycopg 3 here (psycopg2 is not installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite database file (the default one lives in var/)."""
    database = make_url(url).database if url.startswith("sqlite") else None
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def resolve_url(url: str | None = None) -> str:
    """The given URL, else DATABASE_URL (or the SQLite default), with the psycopg 3 driver."""
    return normalize_url(url or get_settings().resolved_database_url)


def get_engine(url: str | None = None) -> Engine:
    return _engine(resolve_url(url))


def sessionmaker_for(url: str | None = None) -> sessionmaker[Session]:
    return _sessionmaker(resolve_url(url))


@lru_cache
def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with sessionmaker_for(url)() as session, session.begin():
        yield session
