"""Faults in sampling, and sampling from a cancelled job: real worker processes (cluster.py)."""

import time

import pytest
from sqlalchemy import update

from shared import lifecycle
from shared.db.models import Job, WorkStatus


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
    assert job.status == WorkStatus.cancelled and time.monotonic() - asked < 10
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
    assert sample.status == WorkStatus.failed and sample.error == lifecycle.LOST_SAMPLE
    restarted = cluster.worker("sampling")
    retry = cluster.finished_sample(cluster.sample(cancelled_job, length=2_000))
    assert retry.status == WorkStatus.succeeded, retry.error
    assert len(cluster.store.get_bytes(retry.object_key).decode("utf-8")) == 2_000
    restarted.stop()


def test_concurrent_requests_for_one_model_load_it_once(cluster, cancelled_job):
    worker = cluster.worker("sampling", "--concurrency", "3")
    ids = [cluster.sample(cancelled_job, length=20_000, random_seed=i) for i in range(3)]
    samples = [cluster.finished_sample(i) for i in ids]
    assert [s.status for s in samples] == [WorkStatus.succeeded] * 3, [s.error for s in samples]
    assert {s.worker for s in samples} == {worker.hostname} and all(s.progress == 1.0 for s in samples)
    assert max(s.started_at for s in samples) < min(s.finished_at for s in samples)  # they ran at once
    assert worker.log_text().count("model cache: loaded") == 1
    worker.stop()


def test_a_running_sample_cancelled_stops_within_a_chunk_and_stores_nothing(cluster, cancelled_job):
    worker = cluster.worker("sampling")
    sample_id = cluster.sample(cancelled_job, length=5_000_000)
    cluster.wait(lambda: cluster.get_sample(sample_id).progress > 0, 60, "sampling under way")
    with cluster.db() as session:
        lifecycle.cancel_sample(session, sample_id)
    asked = time.monotonic()
    cluster.wait(lambda: f"sample {sample_id}: cancelled; stopped" in worker.log_text(), 30, "the worker to stop")
    print(f"\nsample cancel: worker stopped {time.monotonic() - asked:.1f} s after the request")
    sample = cluster.get_sample(sample_id)
    assert sample.status == WorkStatus.cancelled and sample.object_key is None and sample.progress < 1
    after = cluster.finished_sample(cluster.sample(cancelled_job, length=1_000))  # the worker is free again
    assert after.status == WorkStatus.succeeded and after.worker == worker.hostname
    worker.stop()


def test_a_graceful_stop_hands_the_running_sample_back_and_it_is_sent_again(cluster, cancelled_job):
    first = cluster.worker("sampling")
    sample_id = cluster.sample(cancelled_job, length=5_000_000)
    cluster.wait(lambda: cluster.get_sample(sample_id).progress > 0, 60, "sampling under way")
    stopping = time.monotonic()
    first.stop(timeout=30)  # SIGTERM: Celery's warm shutdown
    stopped = time.monotonic() - stopping
    print(f"\nsampling worker SIGTERM: exited {stopped:.1f} s after, its sample handed back")
    assert first.proc.returncode == 0 and stopped < 15  # well inside the launcher's STOP_TIMEOUT (30 s)
    assert f"sample {sample_id}: handed back to the queue" in first.log_text()
    sample = cluster.get_sample(sample_id)
    assert sample.status == WorkStatus.queued and sample.attempts == 0 and sample.error is None
    second = cluster.worker("sampling")  # its message was sent again: the next worker takes it
    cluster.wait(lambda: cluster.get_sample(sample_id).worker == second.hostname, 60, "the sample taken up again")
    sample = cluster.get_sample(sample_id)
    assert sample.status == WorkStatus.running and sample.attempts == 1
    with cluster.db() as session:
        lifecycle.cancel_sample(session, sample_id)
    second.stop()
