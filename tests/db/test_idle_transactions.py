"""A process cut off inside a transaction must not keep its row locks: PostgreSQL ends a worker's
transaction left idle for IDLE_TRANSACTION_TIMEOUT, so the reconciler (which skips locked rows)
sees the job again."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from shared.db import session as db_session_module
from shared.settings import get_settings
from tests.waiting import wait_for


@pytest.fixture
def short_idle_timeout(monkeypatch):
    monkeypatch.setenv("IDLE_TRANSACTION_TIMEOUT", "1")
    get_settings.cache_clear()
    db_session_module._engine.cache_clear()
    yield
    get_settings.cache_clear()
    db_session_module._engine.cache_clear()


def test_an_idle_transaction_loses_its_row_locks(make_pg_database, short_idle_timeout):
    url = make_pg_database()
    other = create_engine(url, poolclass=NullPool)
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE jobs_like (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO jobs_like VALUES (1)"))
    worker = db_session_module.get_engine(url)  # the engine workers and the reconciler use
    held = worker.connect()
    held.execute(text("SELECT id FROM jobs_like WHERE id = 1 FOR UPDATE"))  # ... and the host is cut off
    with other.connect() as probe:
        assert probe.execute(text("SELECT id FROM jobs_like FOR UPDATE SKIP LOCKED")).all() == []
        probe.rollback()

        def unlocked() -> bool:
            rows = probe.execute(text("SELECT id FROM jobs_like FOR UPDATE SKIP LOCKED")).all()
            if rows != [(1,)]:
                probe.rollback()
            return rows == [(1,)]

        wait_for(unlocked, 2.0, "the idle transaction's row lock to be released", interval=0.1)
    with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):  # the server ended that session
        held.execute(text("SELECT 1"))
    held.invalidate()
    other.dispose()
    worker.dispose()
