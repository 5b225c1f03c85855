"""A sample's state, one lifecycle function at a time, on PostgreSQL."""

from sqlalchemy import select

from shared import lifecycle
from shared.db.models import Epoch, Job, Sample, WorkStatus
from tests.factories import epoch_row


def new_sample(db, owner, job_id, **fields) -> int:
    with db() as session:
        job = session.get(Job, job_id)
        epoch = session.scalars(select(Epoch).where(Epoch.job_id == job_id, Epoch.epoch == 1)).first() or epoch_row(
            job_id=job_id, val_loss=1.0, chars_per_second=1.0
        )
        session.add(epoch)
        return lifecycle.create_sample(
            session,
            owner,
            job,
            epoch,
            **{
                "length": 10,
                "temperatures": [0.5, 1],
                "count": 2,
                "seed_text": None,
                "random_seed": None,
                **fields,
            },
        ).id


def test_claim_and_finish_sample(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id)
    with db() as session:
        work = lifecycle.claim_sample(session, sample_id, "s@host")
    assert work.temperatures == [0.5, 1.0] and work.count == 2 and work.length == 10
    assert work.checkpoint_key == f"jobs/{job_id}/epoch-0001"
    with db() as session:
        lifecycle.finish_sample(session, sample_id, object_key="samples/1.zip")
        assert lifecycle.claim_sample(session, sample_id) is None
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == WorkStatus.succeeded and sample.object_key == "samples/1.zip"
        assert sample.progress == 1.0


def test_sample_found_running_again_fails_with_the_reason(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id, count=1, temperatures=[1])
    with db() as session:
        assert lifecycle.claim_sample(session, sample_id, "s@host") is not None
    with db() as session:  # the message again: the worker crashed mid-sample; no endless retry
        assert lifecycle.claim_sample(session, sample_id, "s@host") is None
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == WorkStatus.failed and sample.error == lifecycle.LOST_SAMPLE


def test_an_unsent_message_fails_the_sample(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id)
    with db() as session:
        lifecycle.fail_unsent(session.get(Sample, sample_id), "broker down")
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == WorkStatus.failed and sample.error == "could not queue: broker down"


def test_cancel_a_queued_or_running_sample_and_its_worker_is_told(db, owner, job_id):
    queued, running = new_sample(db, owner, job_id), new_sample(db, owner, job_id)
    with db() as session:
        lifecycle.claim_sample(session, running, "s@host")
    with db() as session:
        assert lifecycle.sample_heartbeat(session, running, 0.5, "s@host") == "ok"
        for sample_id in (queued, running):
            sample, changed = lifecycle.cancel_sample(session, sample_id)
            assert changed and sample.status == WorkStatus.cancelled and sample.finished_at is not None
        assert lifecycle.cancel_sample(session, queued)[1] is False  # cancelled twice: unchanged
    with db() as session:
        assert lifecycle.sample_heartbeat(session, running, 0.6, "s@host") == "cancel"
        lifecycle.finish_sample(session, running, object_key="samples/x.txt")  # the worker finished anyway
        assert lifecycle.claim_sample(session, queued, "s@host") is None  # its message, later
    with db() as session:
        for sample_id in (queued, running):
            sample = session.get(Sample, sample_id)
            assert sample.status == WorkStatus.cancelled and sample.object_key is None


def test_a_finished_sample_cannot_be_cancelled(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id)
    with db() as session:
        lifecycle.claim_sample(session, sample_id, "s@host")
        lifecycle.finish_sample(session, sample_id, error="boom")
    with db() as session:
        try:
            lifecycle.cancel_sample(session, sample_id)
        except lifecycle.SampleFinished as exc:
            assert str(exc) == f"sample {sample_id} already failed; nothing to cancel"
        else:
            raise AssertionError("a failed sample was cancelled")


def test_a_stopping_worker_hands_its_sample_back_without_counting_an_attempt(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id)
    with db() as session:
        lifecycle.claim_sample(session, sample_id, "s@host")
        old_token = session.get(Sample, sample_id).dispatch_token
    with db() as session:
        assert lifecycle.requeue_sample(session, sample_id, "other@host") is None  # not its worker
        token = lifecycle.requeue_sample(session, sample_id, "s@host")
    assert token and token != old_token
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == WorkStatus.queued and sample.attempts == 0 and sample.worker is None
        assert lifecycle.claim_sample(session, sample_id, "s2@host", old_token) is None  # superseded
        work = lifecycle.claim_sample(session, sample_id, "s2@host", token)
    assert work is not None
    with db() as session:
        assert session.get(Sample, sample_id).attempts == 1


def test_a_sample_ends_once_an_attempt_found_lost_records_nothing(db, owner, job_id):
    """The reconciler failed the sample while its worker was cut off; the worker, healed, finishes:
    its heartbeat says lost and its result is not recorded (the sample stays failed, no text)."""
    sample_id = new_sample(db, owner, job_id, count=1, temperatures=[1])
    with db() as session:
        work = lifecycle.claim_sample(session, sample_id, "s@host")
    assert work.lease
    with db() as session:
        assert lifecycle.sample_heartbeat(session, sample_id, 0.5, "s@host", work.lease) == "ok"
        assert lifecycle.sample_heartbeat(session, sample_id, 0.5, "s@host", "another") == "lost"
        lifecycle.fail_lost_sample(session.get(Sample, sample_id))
    with db() as session:
        assert lifecycle.sample_heartbeat(session, sample_id, 0.9, "s@host", work.lease) == "lost"
        key = f"samples/{sample_id}-{work.lease}.txt"
        assert lifecycle.finish_sample(session, sample_id, object_key=key, lease=work.lease) is False
        assert lifecycle.requeue_sample(session, sample_id, "s@host", work.lease) is None
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == WorkStatus.failed and sample.object_key is None
        assert sample.error == lifecycle.samples.LOST_SAMPLE


def test_a_claim_gets_a_new_lease_and_a_hand_back_drops_it(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id, count=1, temperatures=[1])
    with db() as session:
        first = lifecycle.claim_sample(session, sample_id, "s@host")
    with db() as session:
        token = lifecycle.requeue_sample(session, sample_id, "s@host", first.lease)
        assert token is not None and session.get(Sample, sample_id).lease is None
    with db() as session:
        second = lifecycle.claim_sample(session, sample_id, "s@host", token)
    assert second.lease and second.lease != first.lease
    with db() as session:  # the first attempt may not finish what the second holds
        assert lifecycle.finish_sample(session, sample_id, object_key="samples/x.txt", lease=first.lease) is False
        assert lifecycle.finish_sample(session, sample_id, object_key="samples/y.txt", lease=second.lease) is True
        assert session.get(Sample, sample_id).object_key == "samples/y.txt"
