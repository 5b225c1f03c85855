"""The reconciler's decisions, one round at a time, on the workers' PostgreSQL database."""

from datetime import timedelta

import pytest

from shared import lifecycle
from shared.db.models import Analysis, Job, Sample, WorkStatus, utcnow
from shared.settings import Settings
from tests.factories import sample_row
from workers.reconciler import reconcile

SETTINGS = Settings(HEARTBEAT_TIMEOUT=60, REDISPATCH_AFTER=30, MAX_ATTEMPTS=3)
EMPTY = {"training": 0, "sampling": 0}


@pytest.fixture
def job_id(make_corpus, make_job):
    return make_job(make_corpus(upload=False))


def set_job(db, job_id, **values):
    with db() as session:
        job = session.get(Job, job_id)
        for name, value in values.items():
            setattr(job, name, value)


def get_job(db, job_id):
    with db() as session:
        return session.get(Job, job_id)


def run(db, sizes=EMPTY):
    with db() as session:
        return reconcile(session, SETTINGS, sizes)


def mine(sends, kind, record_id):
    return [s for s in sends if s[:2] == (kind, record_id)]


def test_a_silent_running_job_is_requeued_with_a_new_token(db, job_id):
    set_job(
        db, job_id, status=WorkStatus.running, attempts=1, worker="w@x", heartbeat_at=utcnow() - timedelta(seconds=61)
    )
    old = get_job(db, job_id).dispatch_token
    (send,) = mine(run(db), "job", job_id)
    job = get_job(db, job_id)
    assert job.status == WorkStatus.queued and job.worker is None and job.attempts == 1
    assert send[2] == job.dispatch_token != old


def test_a_live_running_job_is_left_alone(db, job_id):
    set_job(db, job_id, status=WorkStatus.running, attempts=1, heartbeat_at=utcnow() - timedelta(seconds=30))
    assert mine(run(db), "job", job_id) == [] and get_job(db, job_id).status == WorkStatus.running


def test_a_job_that_keeps_losing_its_worker_fails_with_the_reason(db, job_id):
    set_job(db, job_id, status=WorkStatus.running, attempts=3, worker="w@x", heartbeat_at=utcnow() - timedelta(hours=1))
    assert mine(run(db), "job", job_id) == []
    job = get_job(db, job_id)
    assert job.status == WorkStatus.failed and job.finished_at
    assert "gave up after 3 attempts" in job.error and "w@x" in job.error


def test_a_lost_job_being_cancelled_ends_cancelled(db, job_id):
    set_job(
        db,
        job_id,
        status=WorkStatus.running,
        attempts=1,
        cancel_requested=True,
        heartbeat_at=utcnow() - timedelta(hours=1),
    )
    assert mine(run(db), "job", job_id) == [] and get_job(db, job_id).status == WorkStatus.cancelled


def test_a_queued_job_is_sent_again_only_when_its_queue_is_empty_and_time_has_passed(db, job_id):
    assert mine(run(db), "job", job_id) == []  # just dispatched
    set_job(db, job_id, dispatched_at=utcnow() - timedelta(seconds=31))
    assert mine(run(db, {"training": 1, "sampling": 0}), "job", job_id) == []  # a message is waiting
    assert mine(run(db, {"training": None, "sampling": 0}), "job", job_id) == []  # broker did not answer
    (send,) = mine(run(db), "job", job_id)
    assert send[2] == get_job(db, job_id).dispatch_token
    assert mine(run(db), "job", job_id) == []  # dispatched again just now


def test_a_silent_sample_fails_and_a_lost_queued_sample_is_sent_again(db, job_id, test_user):
    with db() as session:
        old = utcnow() - timedelta(hours=1)
        running = sample_row(
            owner_id=test_user,
            job_id=job_id,
            temperatures=[1],
            status=WorkStatus.running,
            heartbeat_at=old,
            worker="s@x",
        )
        queued = sample_row(owner_id=test_user, job_id=job_id, temperatures=[1], dispatched_at=old)
        session.add_all([running, queued])
        session.flush()
        running_id, queued_id = running.id, queued.id
    sends = run(db)
    assert mine(sends, "sample", running_id) == [] and len(mine(sends, "sample", queued_id)) == 1
    with db() as session:
        sample = session.get(Sample, running_id)
        assert sample.status == WorkStatus.failed and sample.error == lifecycle.LOST_SAMPLE


def test_a_message_a_worker_already_holds_is_not_taken_for_lost(db, job_id, broker):
    """After a Redis restart, the re-sent message may sit prefetched by a busy worker (delivered,
    unacknowledged) while the queue is empty: it must not be sent a second time."""
    from shared.queue import TRAINING_QUEUE, make_celery, queued_messages, send_training
    from tests.conftest import TEST_BROKER_URL

    celery = make_celery(Settings(BROKER_URL=TEST_BROKER_URL))
    token = get_job(db, job_id).dispatch_token
    set_job(db, job_id, dispatched_at=utcnow() - timedelta(seconds=31))
    send_training(celery, job_id, token)
    assert queued_messages(celery, TRAINING_QUEUE) == {("charlstm.train", job_id, token)}
    with celery.connection_for_read() as conn:
        queue = conn.SimpleQueue(TRAINING_QUEUE)
        message = queue.get(timeout=5)  # a worker takes it and holds it, unacknowledged
        assert broker.llen(TRAINING_QUEUE) == 0
        held = {TRAINING_QUEUE: queued_messages(celery, TRAINING_QUEUE), "sampling": set()}
        assert held[TRAINING_QUEUE] == {("charlstm.train", job_id, token)}
        with db() as session:
            assert mine(reconcile(session, SETTINGS, EMPTY, messages=held), "job", job_id) == []
        message.ack()
        queue.close()
    gone = {TRAINING_QUEUE: queued_messages(celery, TRAINING_QUEUE), "sampling": set()}
    assert gone[TRAINING_QUEUE] == set()
    with db() as session:  # now it is lost: sent again, once
        (send,) = mine(reconcile(session, SETTINGS, {"training": 3, "sampling": 0}, messages=gone), "job", job_id)
    assert send[2] == get_job(db, job_id).dispatch_token != token
    celery.close()


def add_analysis(db, job_id, owner_id, **values) -> tuple[int, str | None]:
    with db() as session:
        analysis = Analysis(owner_id=owner_id, job_id=job_id, epoch=1, checkpoint_key="k", text="ab", **values)
        session.add(analysis)
        session.flush()
        return analysis.id, analysis.dispatch_token


def get_analysis(db, analysis_id):
    with db() as session:
        return session.get(Analysis, analysis_id)


def test_a_silent_running_analysis_fails_and_a_live_one_is_left_alone(db, job_id, test_user):
    running = {"status": WorkStatus.running, "worker": "a@x"}
    silent, _ = add_analysis(db, job_id, test_user, heartbeat_at=utcnow() - timedelta(seconds=61), **running)
    live, _ = add_analysis(db, job_id, test_user, heartbeat_at=utcnow() - timedelta(seconds=30), **running)
    assert mine(run(db), "analysis", silent) == []
    lost = get_analysis(db, silent)
    assert lost.status == WorkStatus.failed and lost.error == lifecycle.LOST_ANALYSIS and lost.finished_at
    assert get_analysis(db, live).status == WorkStatus.running


def test_an_analysis_is_told_from_a_sample_of_the_same_id_in_the_sampling_queue(db, job_id, test_user, broker):
    """Sample N and analysis N share the sampling queue: a message is known by its task too, so a
    sample's message does not hide that the analysis's own was lost."""
    from shared.queue import SAMPLING_QUEUE, make_celery, queued_messages, send_analysis, send_sampling
    from tests.conftest import TEST_BROKER_URL

    celery = make_celery(Settings(BROKER_URL=TEST_BROKER_URL))
    long_ago = utcnow() - timedelta(seconds=31)
    analysis_id, token = add_analysis(db, job_id, test_user, dispatched_at=long_ago)
    send_sampling(celery, analysis_id, token)  # a sample's message with the analysis's id (and token, at worst)

    def round_with_the_broker():
        held = {"training": set(), SAMPLING_QUEUE: queued_messages(celery, SAMPLING_QUEUE)}
        with db() as session:
            sends = reconcile(session, SETTINGS, {"training": 0, "sampling": 1}, messages=held)
        return mine(sends, "analysis", analysis_id)

    (send,) = round_with_the_broker()  # lost: the message in the queue is not its own
    analysis = get_analysis(db, analysis_id)
    assert send == ("analysis", analysis_id, analysis.dispatch_token) and analysis.dispatch_token != token
    assert analysis.status == WorkStatus.queued
    send_analysis(celery, analysis_id, analysis.dispatch_token)
    with db() as session:
        session.get(Analysis, analysis_id).dispatched_at = long_ago
    assert queued_messages(celery, SAMPLING_QUEUE) == {
        ("charlstm.sample", analysis_id, token),
        ("charlstm.analyze", analysis_id, analysis.dispatch_token),
    }
    assert round_with_the_broker() == []  # its own message is waiting: not lost
    broker.flushdb()
    celery.close()
