"""Faults injected into training: real signals to real worker processes, a Redis server and an S3
server stopped and started. Timeouts are short here (cluster.FAST): a lost worker is noticed after
4 s of silence. Each test prints how long recovery took (`pytest -s` shows it)."""

import json
import os
import signal
import time

from shared.db.models import WorkStatus
from tests.workers.processes import Reconciler


def whole_history(cluster, job_id, epochs):
    job, history = cluster.finished_job(job_id)
    assert job.status == WorkStatus.succeeded, job.error
    assert history == list(range(1, epochs + 1)) and job.epoch == epochs  # none missing or repeated
    keys = cluster.checkpoint_keys(job_id)
    for epoch in history:  # each under the lease of the attempt that recorded it
        assert keys[epoch].startswith(f"jobs/{job_id}/") and keys[epoch].endswith(f"/epoch-{epoch:04d}")
        assert cluster.store.exists(f"{keys[epoch]}/model.keras")
    meta = json.loads(cluster.store.get_bytes(f"{keys[epochs]}/checkpoint.json"))
    assert [r["epoch"] for r in meta["history"]] == history  # the model's own history too
    return job


def reached_epoch(cluster, job_id, epoch):
    return cluster.wait(lambda: cluster.get_job(job_id)[0].epoch >= epoch, 120, f"job {job_id} epoch {epoch}")


def test_worker_killed_job_resumes_on_another_worker(cluster):
    first = cluster.worker("training")
    cluster.reconciler()
    job_id = cluster.job(epochs=4)  # killed after epoch 1: 3 epochs left to resume
    reached_epoch(cluster, job_id, 1)
    first.kill()  # worker and pool gone; its message stays unacknowledged in Redis
    killed = time.monotonic()
    done_before = cluster.get_job(job_id)[1]
    second = cluster.worker("training")
    cluster.wait(lambda: cluster.get_job(job_id)[0].attempts == 2, 60, "the job taken up again")
    print(f"\nworker SIGKILL: job running again after {time.monotonic() - killed:.1f} s")
    job = whole_history(cluster, job_id, 4)
    assert job.attempts == 2 and job.worker == second.hostname and job.requeues == 0
    assert f"job {job_id}: epochs {done_before[-1] + 1}..4," in second.log_text()
    second.stop()


def test_a_job_that_kills_its_worker_every_time_fails_for_good(cluster):
    worker = cluster.worker("training")
    job_id = cluster.job(epochs=500)
    for attempt in (1, 2, 3):
        cluster.wait(lambda n=attempt: cluster.get_job(job_id)[0].attempts == n, 60, f"attempt {attempt}")
        (child,) = worker.pool_children()
        os.kill(child, signal.SIGKILL)  # redelivered at once to this worker (reject_on_worker_lost)
    job, _ = cluster.finished_job(job_id, 60)
    assert job.status == WorkStatus.failed and job.attempts == 3
    assert "gave up after 3 attempts" in job.error
    worker.stop()


def test_graceful_stop_hands_the_job_back(cluster):
    first = cluster.worker("training")
    job_id = cluster.job(epochs=5)  # stopped after epoch 2: 3 epochs left to resume
    reached_epoch(cluster, job_id, 2)
    asked = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)  # to the main process only, as `docker stop` does
    assert first.proc.wait(30) == 0
    stopped_in = time.monotonic() - asked
    job, history = cluster.get_job(job_id)
    assert job.status == WorkStatus.queued and (job.attempts, job.requeues) == (0, 1) and job.error is None
    assert f"job {job_id}: handed back to the queue" in first.log_text()
    second = cluster.worker("training")
    job = whole_history(cluster, job_id, 5)
    print(f"\nSIGTERM: worker exited after {stopped_in:.1f} s; job resumed from epoch {history[-1]}")
    assert (job.attempts, job.requeues) == (1, 1)  # not counted as a failure
    assert f"job {job_id}: epochs {history[-1] + 1}..5," in second.log_text()
    second.stop()


def test_ctrl_c_while_the_job_starts_hands_it_back_once(cluster):
    """Ctrl-C in the worker's terminal (SIGINT to its whole process group) right after the claim,
    while the pool process loads TensorFlow or builds the model: handed back before an epoch is
    trained, once, and the job keeps its first start time."""
    first = cluster.worker("training")
    job_id = cluster.job(epochs=2)
    cluster.wait(lambda: cluster.get_job(job_id)[0].status == WorkStatus.running, 60, "the claim")
    started_at = cluster.get_job(job_id)[0].started_at
    asked = time.monotonic()
    os.killpg(first.proc.pid, signal.SIGINT)
    assert first.proc.wait(30) == 0
    print(f"\nCtrl-C at the start: worker exited after {time.monotonic() - asked:.1f} s")
    job, history = cluster.get_job(job_id)
    assert (job.status, job.attempts, job.requeues, history) == (WorkStatus.queued, 0, 1, [])
    assert first.log_text().count(f"job {job_id}: handed back") == 1
    # stopped before an epoch ended (the signal may land before or just after training begins:
    # "epochs 1..2" in the log, then handed back at the first batch boundary)
    assert f"job {job_id}: epoch 1 loss" not in first.log_text()
    second = cluster.worker("training")
    job = whole_history(cluster, job_id, 2)
    assert (job.attempts, job.requeues, job.started_at) == (1, 1, started_at)
    second.stop()


def test_redis_restart_with_a_job_running_and_one_queued(cluster):
    worker = cluster.worker("training")
    cluster.reconciler()
    running = cluster.job(epochs=20)  # runs past REDISPATCH_AFTER after the restart
    reached_epoch(cluster, running, 1)
    queued = cluster.job(epochs=2)  # waits: the worker runs one job at a time
    cluster.redis.stop()  # nothing on disk: the queued message and the unacknowledged one are gone
    time.sleep(1)  # Redis stays down a while
    cluster.redis.start()
    restarted = time.monotonic()
    whole_history(cluster, running, 20)
    whole_history(cluster, queued, 2)
    print(f"\nRedis restart: both jobs finished {time.monotonic() - restarted:.1f} s after")
    # its lost message was sent again once, though the worker took the new one long before it ran it
    worker.stop()
    logs = "".join(p.log_text() for p in cluster.processes if isinstance(p, Reconciler))  # earlier ones too
    assert logs.count(f"job {queued}: queued, but its message is not in") == 1
    assert f"job {queued}: nothing to do" not in worker.log_text()  # no superseded duplicate


def test_storage_outage_during_checkpoint_upload(cluster):
    worker = cluster.worker("training")
    cluster.reconciler()
    job_id = cluster.job(epochs=5)  # storage stops after epoch 1: epoch 2's upload waits for it
    reached_epoch(cluster, job_id, 1)
    cluster.s3.stop()
    down = time.monotonic()
    cluster.wait(lambda: "failed (attempt" in worker.log_text(), 60, "an upload retrying")
    recorded = cluster.get_job(job_id)[1]
    time.sleep(1)  # a second in which nothing may be recorded
    assert cluster.get_job(job_id)[1] == recorded  # nothing recorded while its upload cannot finish
    (child,) = worker.pool_children()
    os.kill(child, signal.SIGKILL)  # and the worker dies meanwhile
    cluster.wait(lambda: "download corpora/" in worker.log_text(), 60, "the next attempt waiting for storage")
    time.sleep(3)  # the new attempt waits on storage a while
    cluster.s3.start()
    print(f"\nS3 outage: {time.monotonic() - down:.1f} s")
    job = whole_history(cluster, job_id, 5)
    assert job.attempts == 2
    assert f"job {job_id}: epochs {recorded[-1] + 1}..5," in worker.log_text()  # from the last complete one
    worker.stop()


def test_a_message_delivered_twice_never_runs_a_job_twice(cluster):
    first, second = cluster.worker("training"), cluster.worker("training")
    job_id = cluster.job(epochs=12)
    reached_epoch(cluster, job_id, 1)
    job, _ = cluster.get_job(job_id)
    idle = second if job.worker == first.hostname else first
    cluster.send("job", job_id, job.dispatch_token)  # the same message again (a redelivery)
    cluster.wait(lambda: f"job {job_id}: running on" in idle.log_text(), 60, "the duplicate dropped")
    cluster.send("job", job_id, "0" * 32)  # a superseded message
    cluster.wait(lambda: idle.log_text().count(f"job {job_id}: nothing to do") == 1, 60, "the stale one skipped")
    job = whole_history(cluster, job_id, 12)
    assert job.attempts == 1 and job.worker != idle.hostname
    first.stop()
    second.stop()
