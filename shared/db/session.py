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
    # A process cut off inside a transaction keeps its row locks until the server ends the
    # session; the reconciler skips locked rows, so a job its worker locked would never be judged.
    idle = int(get_settings().idle_transaction_timeout * 1000)
    return create_engine(
        url, pool_pre_ping=True, connect_args={"options": f"-c idle_in_transaction_session_timeout={idle}"}
    )


@lru_cache
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(_engine(url), expire_on_commit=False)


def web_sessionmaker(url: str | None, connect_timeout: float, statement_timeout: float) -> sessionmaker[Session]:
    """Sessions for web requests: an engine of its own that never waits long. PostgreSQL gets a
    `connect_timeout` and a `statement_timeout`, and the pool a `pool_timeout`, of a few seconds
    (workers keep the plain engine and their own retries)."""
    return _web_sessionmaker(resolve_url(url), connect_timeout, statement_timeout)


@lru_cache
def _web_sessionmaker(url: str, connect_timeout: float, statement_timeout: float) -> sessionmaker[Session]:
    if url.startswith("sqlite"):
        return _sessionmaker(url)  # one file, one engine: its busy timeout applies
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=connect_timeout,
        connect_args={
            "connect_timeout": max(1, round(connect_timeout)),
            "options": f"-c statement_timeout={int(statement_timeout * 1000)}",
        },
    )
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with sessionmaker_for(url)() as session, session.begin():
        yield session
