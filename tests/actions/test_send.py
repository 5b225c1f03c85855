"""commit_and_send, the one owner of commit-then-send, and an action called directly (no HTTP)."""

import pytest
from celery import Celery

from shared.actions import Unavailable
from shared.actions.jobs import create_job
from shared.db.models import Job, User, WorkStatus
from shared.db.session import session_scope, web_sessionmaker
from shared.engine.config import Hyperparameters

from .conftest import TINY_HP


def test_a_job_is_committed_before_its_message_and_marked_failed_when_the_broker_refuses(clean_db, owner, corpus_id):
    down = Celery(broker="redis://127.0.0.1:1/0")  # nothing listens there: every send fails
    session = web_sessionmaker(clean_db, 10, 10)()  # an action owns its commits, as in a web request
    try:
        user = session.get_one(User, owner)
        with pytest.raises(Unavailable, match="the job queue is unavailable; job not queued"):
            create_job(session, down, user, corpus_id, Hyperparameters(**{**TINY_HP, "seq_len": 2, "batch_size": 1}))
    finally:
        session.close()
    with session_scope(clean_db) as session:
        (job,) = session.query(Job).all()  # committed before the send, then marked
        assert job.status == WorkStatus.failed and job.error.startswith("could not queue")
