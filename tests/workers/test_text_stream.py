"""workers/text_stream.py: the sampling task's pieces of text reach the database as they come
(batched by a thread of their own, all of them on flush), under the attempt's lease only."""

import pytest

from shared import lifecycle
from shared.db.models import Job, Sample, SamplePiece, User
from shared.db.session import session_scope
from tests.factories import corpus_row, sample_row
from tests.waiting import wait_for
from workers.text_stream import TextPublisher


@pytest.fixture
def running_sample(clean_db) -> tuple[int, str]:
    """(id, lease) of a sample of two texts, claimed by worker w1."""
    with session_scope(clean_db) as session:
        user = User(name="stream")
        session.add(user)
        session.flush()
        corpus = corpus_row(owner_id=user.id)
        session.add(corpus)
        session.flush()
        job = Job(owner_id=user.id, corpus_id=corpus.id, hyperparameters_json={"layers": 1, "units": 8})
        session.add(job)
        session.flush()
        sample = sample_row(owner_id=user.id, job_id=job.id, temperatures=[0.5, 1.0])
        session.add(sample)
        session.flush()
        sample_id = sample.id
    with session_scope(clean_db) as session:
        work = lifecycle.claim_sample(session, sample_id, "w1")
        assert work is not None
        return sample_id, work.lease


def text_of(url: str, sample_id: int, text_index: int, offset: int = 0) -> str:
    with session_scope(url) as session:
        return lifecycle.read_pieces(session, sample_id, text_index, offset)


def test_pieces_of_each_text_are_written_in_order(clean_db, running_sample):
    sample_id, lease = running_sample
    with TextPublisher(sample_id, lease, texts=2, db_url=clean_db) as publisher:
        for piece in ("def ", "f(x)", ":\n"):
            publisher.write(0, piece)
            publisher.write(1, piece.upper())
        assert publisher.flush()
        publisher.write(0, "\treturn x")
    assert text_of(clean_db, sample_id, 0) == "def f(x):\n\treturn x"
    assert text_of(clean_db, sample_id, 1) == "DEF F(X):\n"
    assert text_of(clean_db, sample_id, 0, offset=6) == "x):\n\treturn x"


def test_pieces_are_written_without_a_flush(clean_db, running_sample):
    sample_id, lease = running_sample
    publisher = TextPublisher(sample_id, lease, texts=2, db_url=clean_db)
    publisher.write(1, "streamed")
    assert wait_for(lambda: text_of(clean_db, sample_id, 1) == "streamed", 10, "the writer thread's write")
    publisher.close()


def test_an_attempt_that_no_longer_holds_the_sample_writes_nothing(clean_db, running_sample):
    sample_id, lease = running_sample
    publisher = TextPublisher(sample_id, lease, texts=2, db_url=clean_db)
    publisher.write(0, "before")
    assert publisher.flush()
    with session_scope(clean_db) as session:
        lifecycle.cancel_sample(session, sample_id)
    publisher.write(0, "after")
    assert not publisher.flush() and not publisher.held
    publisher.close()
    with session_scope(clean_db) as session:  # the cancel dropped the pieces; nothing came after it
        assert session.query(SamplePiece).filter_by(sample_id=sample_id).count() == 0
        assert session.get(Sample, sample_id).status.value == "cancelled"


def test_a_new_attempt_starts_from_no_pieces(clean_db, running_sample):
    sample_id, lease = running_sample
    with TextPublisher(sample_id, lease, texts=2, db_url=clean_db) as publisher:
        publisher.write(0, "first attempt")
    with session_scope(clean_db) as session:
        token = lifecycle.requeue_sample(session, sample_id, "w1", lease)
    with session_scope(clean_db) as session:
        assert lifecycle.claim_sample(session, sample_id, "w2", token) is not None
    assert text_of(clean_db, sample_id, 0) == ""
