"""Faults in sampling, and sampling from a cancelled job: real worker processes (cluster.py)."""

import time

import pytest
from sqlalchemy import update

from shared import lifecycle
from shared.db.models import Job, JobStatus, SampleStatus


@pytest.fixture(scope="module")
def cancelled_job(cluster):
    """A job cancelled while it ran: it stops within a few batches and keeps its checkpoints."""
    worker = cluster.worker("training")
    job_id = cluster.job(epochs=500)
    cluster.wait(lambda: cluster.get_job(job_id)[0].epoch >= 2, 120, "two epochs")
    with cluster.db() as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    asked = time.monotonic()
    job, epochs = cluster.finished_job(job_id, 30)
    print(f"\ncancel: job stopped {time.monotonic() - asked:.1f} s after the request")
    assert job.status == JobStatus.cancelled and time.monotonic() - asked < 10
    assert epochs == list(range(1, job.epoch + 1)) and job.epoch < 500
    worker.stop()
    return job_id


def test_crash_while_sampling_fails_the_request_and_asking_again_works(cluster, cancelled_job):
    crashing = cluster.worker("sampling")
    cluster.reconciler()
    sample_id = cluster.sample(cancelled_job, length=5_000_000)
    cluster.wait(lambda: cluster.get_sample(sample_id).progress > 0, 60, "sampling under way")
    crashing.kill()
    killed = time.monotonic()
    sample = cluster.finished_sample(sample_id, 60)
    print(f"\nsampling worker SIGKILL: request failed with its reason {time.monotonic() - killed:.1f} s after")
    assert sample.status == SampleStatus.failed and sample.error == lifecycle.LOST_SAMPLE
    restarted = cluster.worker("sampling")
    retry = cluster.finished_sample(cluster.sample(cancelled_job, length=2_000))
    assert retry.status == SampleStatus.succeeded, retry.error
    assert len(cluster.store.get_bytes(retry.object_key).decode("utf-8")) == 2_000
    restarted.stop()


def test_concurrent_requests_for_one_model_load_it_once(cluster, cancelled_job):
    worker = cluster.worker("sampling", "--concurrency", "3")
    ids = [cluster.sample(cancelled_job, length=20_000, random_seed=i) for i in range(3)]
    samples = [cluster.finished_sample(i) for i in ids]
    assert [s.status for s in samples] == [SampleStatus.succeeded] * 3, [s.error for s in samples]
    assert {s.worker for s in samples} == {worker.hostname} and all(s.progress == 1.0 for s in samples)
    assert max(s.started_at for s in samples) < min(s.finished_at for s in samples)  # they ran at once
    assert worker.log_text().count("model cache: loaded") == 1
