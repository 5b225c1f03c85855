"""Rows for the lifecycle tests, on the session's clean PostgreSQL database (tests/conftest.py)."""

import pytest

from shared.db.models import Job, User
from shared.db.session import session_scope
from tests.factories import corpus_row

TINY_HP = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "epochs": 5, "validation_split": 0.1}


@pytest.fixture
def db(clean_db):
    """`with db() as session:` a committing session on the clean test database."""
    return lambda: session_scope(clean_db)


@pytest.fixture
def owner(db) -> int:
    with db() as session:
        user = User(name="lifecycle")
        session.add(user)
        session.flush()
        return user.id


@pytest.fixture
def corpus_id(db, owner) -> int:
    with db() as session:
        corpus = corpus_row(owner_id=owner, name="c", object_key="corpora/c.txt")
        session.add(corpus)
        session.flush()
        return corpus.id


@pytest.fixture
def job_id(db, owner, corpus_id) -> int:
    """A queued job, made by the lifecycle's own create_job."""
    from shared import lifecycle
    from shared.engine.config import Hyperparameters

    with db() as session:
        return lifecycle.create_job(session, owner, corpus_id, Hyperparameters(**TINY_HP)).id


@pytest.fixture
def get_job(db):
    """get_job(id) -> the Job as stored now (detached)."""

    def get(job_id: int) -> Job:
        with db() as session:
            return session.get(Job, job_id)

    return get
