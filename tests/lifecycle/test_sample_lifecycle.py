"""A sample's state, one lifecycle function at a time, on PostgreSQL."""

from shared import lifecycle
from shared.db.models import Epoch, Job, Sample, SampleStatus


def new_sample(db, owner, job_id, **fields) -> int:
    with db() as session:
        job = session.get(Job, job_id)
        epoch = Epoch(
            job_id=job_id,
            epoch=1,
            loss=1.0,
            val_loss=1.0,
            seconds=1.0,
            chars_per_second=1.0,
            checkpoint_key=f"jobs/{job_id}/epoch-0001",
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
        assert sample.status == SampleStatus.succeeded and sample.object_key == "samples/1.zip"
        assert sample.progress == 1.0


def test_sample_found_running_again_fails_with_the_reason(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id, count=1, temperatures=[1])
    with db() as session:
        assert lifecycle.claim_sample(session, sample_id, "s@host") is not None
    with db() as session:  # the message again: the worker crashed mid-sample; no endless retry
        assert lifecycle.claim_sample(session, sample_id, "s@host") is None
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == SampleStatus.failed and sample.error == lifecycle.LOST_SAMPLE


def test_an_unsent_message_fails_the_sample(db, owner, job_id):
    sample_id = new_sample(db, owner, job_id)
    with db() as session:
        lifecycle.fail_unsent(session.get(Sample, sample_id), "broker down")
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == SampleStatus.failed and sample.error == "could not queue: broker down"
