"""shared/db/retry.py against a real refused connection and a real PostgreSQL, and the
reconciler's DatabaseWatch (when it may judge heartbeats)."""

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.db.retry import DatabaseUnreachable, is_disconnect, run_in_session, with_db_retries
from tests.workers.processes import free_port
from workers.errors import describe_error
from workers.reconciler import DatabaseWatch


def test_a_refused_database_is_retried_then_reported_with_what_was_being_done():
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    started = time.monotonic()
    with pytest.raises(DatabaseUnreachable) as caught:
        run_in_session(lambda s: s.execute(text("SELECT 1")), "recording epoch 3", nowhere, seconds=1.5)
    assert 1.0 <= time.monotonic() - started < 5
    assert str(caught.value).startswith("database unreachable for 1 s while recording epoch 3")
    assert isinstance(caught.value.__cause__, OperationalError) and is_disconnect(caught.value.__cause__)
    assert describe_error(caught.value).startswith("database unreachable for 1 s while recording epoch 3")


def test_a_blip_is_ridden_out_and_the_step_runs_once_it_is_back(worker_db_url):
    calls: list[float] = []
    pauses: list[float] = []

    def step():
        calls.append(time.monotonic())
        if len(calls) < 4:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
        return run_in_session(lambda s: s.scalar(text("SELECT 41 + 1")), "reading", worker_db_url)

    assert with_db_retries(step, "reading", seconds=30, first_delay=0.01, max_delay=0.02, sleep=pauses.append) == 42
    assert len(calls) == 4 and pauses == [0.01, 0.02, 0.02]  # doubling, capped


def test_other_database_errors_are_not_retried():
    calls = []

    def step():
        calls.append(1)
        raise IntegrityError("INSERT", {}, ValueError("duplicate"))

    with pytest.raises(IntegrityError):
        with_db_retries(step, "inserting", seconds=30, sleep=lambda _: None)
    assert calls == [1]


def test_the_reconciler_judges_heartbeats_only_after_having_the_database_for_the_timeout():
    now = [100.0]
    watch = DatabaseWatch(4.0, clock=lambda: now[0])
    assert not watch.trusted()  # just started
    now[0] = 104.0
    assert watch.trusted()
    watch.lost()  # a round could not reach the database
    now[0] = 200.0
    assert not watch.trusted()
    watch.reached()
    now[0] = 203.0
    assert not watch.trusted()
    watch.reached()  # later rounds do not restart the grace
    now[0] = 204.0
    assert watch.trusted()
