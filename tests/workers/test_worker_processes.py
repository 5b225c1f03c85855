"""End to end through real worker processes: Redis broker, PostgreSQL, moto S3, the engine."""

import io
import os
import signal
import time
import zipfile

import pytest
from sqlalchemy import select, update

from shared.db.models import Epoch, Job, Sample, WorkStatus


def _job(db, job_id):
    with db() as session:
        job = session.get(Job, job_id)
        epochs = session.scalars(select(Epoch).where(Epoch.job_id == job_id).order_by(Epoch.epoch)).all()
        return job, list(epochs)


def _finished_job(db, job_id):
    job, epochs = _job(db, job_id)
    return (job, epochs) if WorkStatus(job.status).finished else None


def _finished_sample(db, sample_id):
    with db() as session:
        sample = session.get(Sample, sample_id)
        return sample if sample.status in (WorkStatus.succeeded, WorkStatus.failed) else None


@pytest.fixture
def make_sample(db, test_user):
    def make(job_id, checkpoint_key, length=50_000, temperatures=(0.75,), count=1, **kw):
        with db() as session:
            sample = Sample(
                owner_id=test_user,
                job_id=job_id,
                checkpoint_key=checkpoint_key,
                length=length,
                temperatures=list(temperatures),
                count=count,
                **kw,
            )
            session.add(sample)
            session.flush()
            return sample.id

    return make


@pytest.fixture(scope="module")
def trained_job(training_worker, enqueue, make_corpus, make_job, db, wait_for):
    """A tiny two-epoch job, trained by the worker process: its id."""
    job_id = make_job(make_corpus())
    enqueue.training(job_id)
    job, _ = wait_for(lambda: _finished_job(db, job_id), 120, what=f"job {job_id}", worker=training_worker)
    assert job.status == WorkStatus.succeeded, f"{job.error}\n{training_worker.log_text()[-4000:]}"
    return job_id


def test_training_job_succeeds_with_checkpoints(trained_job, db, worker_store, training_worker):
    job, epochs = _job(db, trained_job)
    assert job.status == WorkStatus.succeeded and job.error is None
    assert job.epoch == 2 and [e.epoch for e in epochs] == [1, 2]
    assert job.attempts == 1 and job.worker == training_worker.hostname
    assert f"job {trained_job}: training with tensorflow on 1 device(s): cpu:0" in training_worker.log_text()
    assert job.started_at <= job.finished_at and job.heartbeat_at is not None and job.progress == 1.0
    assert job.best_val_loss == min(e.val_loss for e in epochs)
    stored = worker_store.list(f"jobs/{trained_job}/")
    for e in epochs:
        assert e.checkpoint_key == f"jobs/{trained_job}/{job.lease}/epoch-{e.epoch:04d}"  # its one attempt's lease
        files = {k.rsplit("/", 1)[1] for k in stored if k.startswith(e.checkpoint_key + "/")}
        assert {"model.keras", "checkpoint.json"} <= files
        assert e.loss > 0 and e.val_loss > 0 and e.seconds > 0 and e.chars_per_second > 0


def test_sample_of_50000_characters(trained_job, sampling_worker, enqueue, make_sample, db, worker_store, wait_for):
    _, epochs = _job(db, trained_job)
    sample_id = make_sample(trained_job, epochs[-1].checkpoint_key, length=50_000, temperatures=[0.75], count=1)
    enqueue.sampling(sample_id)
    sample = wait_for(lambda: _finished_sample(db, sample_id), 180, what=f"sample {sample_id}", worker=sampling_worker)
    assert sample.status == WorkStatus.succeeded, sample.error
    assert sample.object_key == f"samples/{sample_id}-{sample.lease}.txt" and sample.finished_at is not None
    text = worker_store.get_bytes(sample.object_key).decode("utf-8")
    assert len(text) == 50_000


def test_one_sampling_worker_runs_two_requests_at_once(
    trained_job, sampling_worker, enqueue, make_sample, db, wait_for
):
    """The session's sampling worker runs with the default concurrency (SAMPLING_CONCURRENCY): a
    second request starts while the first one still runs."""
    _, epochs = _job(db, trained_job)
    ids = [make_sample(trained_job, epochs[-1].checkpoint_key, length=50_000) for _ in range(2)]
    for sample_id in ids:
        enqueue.sampling(sample_id)
    samples = [
        wait_for(lambda i=i: _finished_sample(db, i), 180, what=f"sample {i}", worker=sampling_worker) for i in ids
    ]
    assert all(s.status == WorkStatus.succeeded for s in samples), [s.error for s in samples]
    assert samples[0].worker == samples[1].worker  # one worker process
    assert max(s.started_at for s in samples) < min(s.finished_at for s in samples)  # the two ran together


def test_several_samples_make_one_zip(trained_job, sampling_worker, enqueue, make_sample, db, worker_store, wait_for):
    _, epochs = _job(db, trained_job)
    sample_id = make_sample(
        trained_job,
        epochs[0].checkpoint_key,
        length=300,
        temperatures=[0.5, 1.0],
        count=2,
        seed_text="def ",
        random_seed=7,
    )
    enqueue.sampling(sample_id)
    sample = wait_for(lambda: _finished_sample(db, sample_id), 120, what=f"sample {sample_id}", worker=sampling_worker)
    assert sample.status == WorkStatus.succeeded, sample.error
    assert sample.object_key == f"samples/{sample_id}-{sample.lease}.zip"
    with zipfile.ZipFile(io.BytesIO(worker_store.get_bytes(sample.object_key))) as archive:
        assert sorted(archive.namelist()) == [
            "sample-1-t0.5.txt",
            "sample-1-t1.txt",
            "sample-2-t0.5.txt",
            "sample-2-t1.txt",
        ]
        assert all(len(archive.read(n).decode("utf-8")) == 300 for n in archive.namelist())


def test_sample_of_missing_checkpoint_fails(trained_job, sampling_worker, enqueue, make_sample, db, wait_for):
    sample_id = make_sample(trained_job, f"jobs/{trained_job}/epoch-0099", length=100)
    enqueue.sampling(sample_id)
    sample = wait_for(lambda: _finished_sample(db, sample_id), 60, what=f"sample {sample_id}", worker=sampling_worker)
    assert sample.status == WorkStatus.failed and sample.object_key is None
    assert "epoch-0099" in sample.error and "missing" in sample.error


def test_finished_job_delivered_again_is_left_alone(trained_job, training_worker, enqueue, db, wait_for):
    before, _ = _job(db, trained_job)
    enqueue.training(trained_job)
    enqueue.training(10_000_000)  # no such job
    # handled one at a time, in order: the second message's line means the first was handled too
    nothing = "job 10000000: nothing to do"
    wait_for(lambda: nothing in training_worker.log_text(), 30, what="both messages handled", worker=training_worker)
    after, epochs = _job(db, trained_job)
    assert (after.status, after.attempts, after.finished_at) == (before.status, before.attempts, before.finished_at)
    assert len(epochs) == 2
    assert nothing in training_worker.log_text()


def test_resume_continues_from_the_latest_checkpoint(trained_job, training_worker, enqueue, db, wait_for):
    with db() as session:
        job = session.get(Job, trained_job)
        job.hyperparameters = job.hyperparameters.model_copy(update={"epochs": 3})
        job.status, job.finished_at = WorkStatus.queued, None
    enqueue.training(trained_job)
    job, epochs = wait_for(lambda: _finished_job(db, trained_job), 120, what="resumed job", worker=training_worker)
    assert job.status == WorkStatus.succeeded, job.error
    assert job.attempts == 2 and job.epoch == 3 and [e.epoch for e in epochs] == [1, 2, 3]
    assert "epochs 3..3" in training_worker.log_text()


def test_cancel_stops_a_running_job_and_keeps_its_epochs(
    training_worker, enqueue, make_corpus, make_job, db, worker_store, wait_for
):
    job_id = make_job(make_corpus(), epochs=500, patience=0)
    enqueue.training(job_id)
    wait_for(lambda: _job(db, job_id)[0].epoch >= 1, 120, what="first epoch", worker=training_worker)
    with db() as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    asked = time.monotonic()
    job, epochs = wait_for(lambda: _finished_job(db, job_id), 30, interval=0.1, what="cancel", worker=training_worker)
    assert job.status == WorkStatus.cancelled and job.finished_at is not None
    assert time.monotonic() - asked < 10
    assert job.epoch >= 1 and len(epochs) == job.epoch < 500
    for e in epochs:
        assert worker_store.exists(f"{e.checkpoint_key}/model.keras")


def test_lost_worker_process_resumes_from_the_latest_checkpoint(
    training_worker, enqueue, make_corpus, make_job, db, wait_for
):
    job_id = make_job(make_corpus(), epochs=500, patience=0)
    enqueue.training(job_id)
    wait_for(lambda: _job(db, job_id)[0].epoch >= 1, 120, what="first epoch", worker=training_worker)
    (child,) = training_worker.pool_children()
    os.kill(child, signal.SIGKILL)  # the task is rejected and requeued (acks_late + reject_on_worker_lost)
    killed_at = _job(db, job_id)[0].epoch
    job = wait_for(
        lambda: (j := _job(db, job_id)[0]).attempts == 2 and j.epoch > killed_at and j,
        120,
        what="resumed attempt",
        worker=training_worker,
    )
    assert job.status == WorkStatus.running
    assert f"job {job_id}: epochs {killed_at + 1}..500," in training_worker.log_text()
    with db() as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    job, epochs = wait_for(lambda: _finished_job(db, job_id), 30, what="cancel", worker=training_worker)
    assert job.status == WorkStatus.cancelled and job.attempts == 2
    assert [e.epoch for e in epochs] == list(range(1, job.epoch + 1))


@pytest.mark.parametrize(
    ("corpus", "hp", "reason", "attempts"),
    [
        ({"upload": False}, {}, "is missing from object storage", 1),
        ({"data": b"print('x')\n\xff\xfe not utf-8" * 100}, {}, "invalid UTF-8", 1),
        ({}, {"units": 0}, "invalid hyperparameters: units", 0),  # refused when claimed: never started
        ({"text": "tiny"}, {}, "too short", 1),
        ({}, {"devices": 2}, "asks for 2 devices; this worker has 1", 1),  # never run on fewer
    ],
    ids=["missing-corpus", "bad-utf8", "bad-hyperparameters", "short-corpus", "too-many-devices"],
)
def test_bad_input_fails_with_a_reason(
    training_worker, enqueue, make_corpus, make_job, db, wait_for, corpus, hp, reason, attempts
):
    job_id = make_job(make_corpus(**corpus), **hp)
    enqueue.training(job_id)
    job, epochs = wait_for(lambda: _finished_job(db, job_id), 60, what=f"job {job_id}", worker=training_worker)
    assert job.status == WorkStatus.failed and epochs == []
    assert reason in job.error and "Traceback" not in job.error
    assert job.finished_at is not None and job.attempts == attempts
