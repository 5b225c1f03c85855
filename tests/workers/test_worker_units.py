"""The workers' parts in-process: DB steps, callbacks, cache, argv, error messages, imports."""

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from shared.db.models import Epoch, Job, JobStatus, Sample, SampleStatus
from shared.engine.train import EpochReport, TrainingCallbacks
from shared.storage import LocalStore, NotFound, StorageError
from workers import jobs_db, shutdown
from workers.__main__ import main, worker_argv
from workers.errors import JobError, describe_error
from workers.heartbeat import Heartbeat
from workers.model_cache import ModelCache
from workers.sampling import sample_names
from workers.training import JobCallbacks, checkpoint_key


def report(epoch, loss=1.5, val_loss=1.6):
    return EpochReport(epoch=epoch, loss=loss, val_loss=val_loss, seconds=2.0, chars_per_second=1000.0)


@pytest.fixture
def job_id(make_corpus, make_job):
    return make_job(make_corpus(upload=False))


def get_job(db, job_id):
    with db() as session:
        return session.get(Job, job_id)


def test_no_tensorflow_when_importing_workers():
    code = (
        "import sys, workers.training, workers.sampling, workers.celery_app, workers.__main__\n"
        "bad = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_claim_marks_running_and_counts_attempts(db, job_id):
    with db() as session:
        work = jobs_db.claim_job(session, job_id, "w1@host")
    assert work.job_id == job_id and work.attempts == 1 and work.resume_key is None
    assert work.corpus_key.startswith("corpora/") and work.hyperparameters["units"] == 16
    job = get_job(db, job_id)
    assert job.status == JobStatus.running and job.worker == "w1@host" and job.started_at and job.heartbeat_at
    with db() as session:
        jobs_db.record_epoch(session, job_id, report(1), checkpoint_key(job_id, 1))
    with db() as session:  # delivered again to the same worker: its pool process died; resume from epoch 1
        work = jobs_db.claim_job(session, job_id, "w1@host")
    assert work.attempts == 2 and (work.resume_epoch, work.resume_key) == (1, f"jobs/{job_id}/epoch-0001")
    with db() as session:  # another worker while w1's heartbeat is fresh: busy, nothing changes
        busy = jobs_db.claim_job(session, job_id, "w2@host")
    assert isinstance(busy, jobs_db.Busy) and busy.worker == "w1@host" and get_job(db, job_id).attempts == 2
    with db() as session:  # ... and once it is older than the timeout: taken over
        assert jobs_db.claim_job(session, job_id, "w3@host", heartbeat_timeout=0).attempts == 3
    with db() as session:
        assert jobs_db.claim_job(session, job_id, "w3@host") is None
    job = get_job(db, job_id)
    assert job.status == JobStatus.failed and "gave up after 3 attempts" in job.error


def test_superseded_message_is_skipped(db, job_id):
    token = get_job(db, job_id).dispatch_token
    assert token and len(token) == 32
    with db() as session:
        assert jobs_db.claim_job(session, job_id, "w", token="0" * 32) is None
    assert get_job(db, job_id).status == JobStatus.queued
    with db() as session:
        assert jobs_db.claim_job(session, job_id, "w", token=token).attempts == 1


def test_requeue_hands_the_job_back_without_counting_an_attempt(db, job_id):
    token = get_job(db, job_id).dispatch_token
    with db() as session:
        jobs_db.claim_job(session, job_id, "w", token=token)
    with db() as session:
        new_token = jobs_db.requeue_job(session, job_id)
    job = get_job(db, job_id)
    assert job.status == JobStatus.queued and (job.attempts, job.requeues) == (0, 1) and job.worker is None
    assert new_token == job.dispatch_token != token
    with db() as session:
        assert jobs_db.claim_job(session, job_id, "w", token=token) is None  # the old message
        assert jobs_db.requeue_job(session, job_id) is None  # not running
        assert jobs_db.claim_job(session, job_id, "w", token=new_token).attempts == 1


def test_claim_skips_finished_and_cancelled_jobs(db, job_id):
    with db() as session:
        session.get(Job, job_id).cancel_requested = True
    with db() as session:
        assert jobs_db.claim_job(session, job_id, "w") is None
    job = get_job(db, job_id)
    assert job.status == JobStatus.cancelled and job.attempts == 0 and job.finished_at
    with db() as session:
        assert jobs_db.claim_job(session, job_id, "w") is None
        assert jobs_db.claim_job(session, 10**9, "w") is None


def test_record_epoch_replaces_and_tracks_best(db, job_id):
    with db() as session:
        jobs_db.record_epoch(session, job_id, report(1, val_loss=2.0), "k1")
        jobs_db.record_epoch(session, job_id, report(2, val_loss=1.0), "k2")
    with db() as session:
        jobs_db.record_epoch(session, job_id, report(3, val_loss=1.5), "k3")
        jobs_db.record_epoch(session, job_id, report(3, val_loss=1.2), "k3b")  # an epoch redone
        jobs_db.record_epoch(session, job_id, report(4, val_loss=None), "k4")
    with db() as session:
        rows = session.scalars(select(Epoch).where(Epoch.job_id == job_id).order_by(Epoch.epoch)).all()
        assert [(r.epoch, r.checkpoint_key) for r in rows] == [(1, "k1"), (2, "k2"), (3, "k3b"), (4, "k4")]
        assert rows[2].val_loss == 1.2
    job = get_job(db, job_id)
    assert job.epoch == 4 and job.best_val_loss == 1.0


def test_finish_job_clips_long_errors(db, job_id):
    with db() as session:
        jobs_db.finish_job(session, job_id, JobStatus.failed, "x" * 10_000)
    job = get_job(db, job_id)
    assert job.status == JobStatus.failed and len(job.error) == jobs_db.MAX_ERROR_CHARS and job.finished_at


def test_heartbeat_writes_progress_and_reads_the_cancel_flag(db, job_id, worker_db_url, wait_for):
    with db() as session:
        jobs_db.claim_job(session, job_id, "w")
    first_beat = get_job(db, job_id).heartbeat_at
    pulse = Heartbeat(jobs_db.heartbeat, job_id, "w", interval=0.05, db_url=worker_db_url)
    callbacks = JobCallbacks(job_id, LocalStore("/nonexistent"), pulse, db_url=worker_db_url)
    assert {m for m in vars(TrainingCallbacks) if not m.startswith("_")} <= set(dir(callbacks))
    with pulse:
        callbacks.on_batch_end(1, 5, 10)
        job = wait_for(lambda: (j := get_job(db, job_id)).progress == 0.5 and j, 10, what="a heartbeat")
        assert job.heartbeat_at > first_beat and callbacks.should_stop() is False
        with db() as session:
            session.get(Job, job_id).cancel_requested = True
        wait_for(callbacks.should_stop, 10, what="the cancel flag read back")
        assert pulse.cancelled and not pulse.lost


def test_a_worker_whose_job_was_given_away_stops_and_touches_nothing(db, job_id, worker_db_url, tmp_path):
    with db() as session:
        jobs_db.claim_job(session, job_id, "w1")
    with db() as session:  # w1 fell silent; the reconciler gave the job to w2
        jobs_db.claim_job(session, job_id, "w2", heartbeat_timeout=0)
    pulse = Heartbeat(jobs_db.heartbeat, job_id, "w1", interval=1.0, db_url=worker_db_url)
    pulse.pulse()
    assert pulse.lost and JobCallbacks(job_id, LocalStore(tmp_path), pulse).should_stop()
    with db() as session:
        with pytest.raises(jobs_db.JobLost):
            jobs_db.record_epoch(session, job_id, report(1), "k", worker="w1")
        assert jobs_db.finish_job(session, job_id, JobStatus.failed, "x", worker="w1") is False
        assert jobs_db.requeue_job(session, job_id, worker="w1") is None
    job = get_job(db, job_id)
    assert job.status == JobStatus.running and job.worker == "w2" and job.epoch == 0


def test_a_stopping_worker_stops_the_job(job_id, worker_db_url, monkeypatch):
    callbacks = JobCallbacks(job_id, LocalStore("/nonexistent"), Heartbeat(jobs_db.heartbeat, job_id, "w", 1.0))
    assert callbacks.should_stop() is False
    monkeypatch.setattr(shutdown, "_requested", threading.Event())
    shutdown.request()
    assert callbacks.should_stop() is True


def test_epoch_end_uploads_then_records(db, job_id, worker_db_url, tmp_path):
    store = LocalStore(tmp_path / "objects")
    folder = tmp_path / "epoch-0001"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"weights")
    (folder / "checkpoint.json").write_text("{}")
    with db() as session:
        jobs_db.claim_job(session, job_id, "w")
    cb = JobCallbacks(job_id, store, Heartbeat(jobs_db.heartbeat, job_id, "w", 1.0), db_url=worker_db_url)
    cb.on_epoch_end(report(1), folder)
    assert store.list(f"jobs/{job_id}/") == [f"jobs/{job_id}/epoch-0001/checkpoint.json",
                                             f"jobs/{job_id}/epoch-0001/model.keras"]
    assert get_job(db, job_id).epoch == 1

    class BrokenStore(LocalStore):
        def put_file(self, key, path):
            raise StorageError("disk full")

    cb = JobCallbacks(job_id, BrokenStore(tmp_path / "broken"), cb.pulse, db_url=worker_db_url)
    with pytest.raises(JobError, match="could not upload the checkpoint of epoch 2: disk full"):
        cb.on_epoch_end(report(2), folder)
    assert get_job(db, job_id).epoch == 1  # not recorded without its files


def test_claim_and_finish_sample(db, job_id, test_user):
    with db() as session:
        sample = Sample(owner_id=test_user, job_id=job_id, checkpoint_key="jobs/1/epoch-0001", length=10,
                        temperatures=[0.5, 1], count=2)
        session.add(sample)
        session.flush()
        sample_id = sample.id
    with db() as session:
        work = jobs_db.claim_sample(session, sample_id, "s@host")
    assert work.temperatures == [0.5, 1.0] and work.count == 2 and work.length == 10
    with db() as session:
        jobs_db.finish_sample(session, sample_id, object_key="samples/1.zip")
        assert jobs_db.claim_sample(session, sample_id) is None
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == SampleStatus.succeeded and sample.object_key == "samples/1.zip"


def test_sample_found_running_again_fails_with_the_reason(db, job_id, test_user):
    with db() as session:
        sample = Sample(owner_id=test_user, job_id=job_id, checkpoint_key="k", length=10, temperatures=[1])
        session.add(sample)
        session.flush()
        sample_id = sample.id
    with db() as session:
        assert jobs_db.claim_sample(session, sample_id, "s@host") is not None
    with db() as session:  # the message again: the worker crashed mid-sample; no endless retry
        assert jobs_db.claim_sample(session, sample_id, "s@host") is None
    with db() as session:
        sample = session.get(Sample, sample_id)
        assert sample.status == SampleStatus.failed and sample.error == jobs_db.LOST_SAMPLE


def test_model_cache_loads_a_model_once_for_concurrent_requests():
    loads = []

    def slow_load(key):
        loads.append(key)
        time.sleep(0.2)
        return key.upper()

    cache = ModelCache(2, slow_load)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(cache.get, ["a"] * 4)) == ["A"] * 4
    assert loads == ["a"] and cache.hits == 3


def test_model_cache_is_lru():
    loads = []
    cache = ModelCache(2, lambda key: loads.append(key) or key.upper())
    assert cache.get("a") == "A" and cache.get("b") == "B" and cache.get("a") == "A"
    cache.get("c")  # evicts b, the least recently used
    assert "b" not in cache and "a" in cache and len(cache) == 2
    cache.get("b")
    assert loads == ["a", "b", "c", "b"] and cache.hits == 1


def test_sample_names_follow_temperature_then_index():
    assert sample_names([0.5, 1.0], 2) == ["sample-1-t0.5.txt", "sample-2-t0.5.txt", "sample-1-t1.txt",
                                           "sample-2-t1.txt"]
    assert sample_names([0.75, 0.75], 1) == ["sample-1-t0.75.txt", "sample-2-t0.75.txt"]


def test_describe_error_gives_one_clear_line():
    assert describe_error(JobError("the corpus is gone")) == "the corpus is gone"
    assert describe_error(ValueError("corpus too short:\n  need 100")) == "corpus too short: need 100"
    assert describe_error(NotFound("k")).startswith("object storage error")
    assert describe_error(KeyError("x")) == "internal error (KeyError): 'x'"
    with pytest.raises(ValidationError) as info:
        from shared.engine.config import Hyperparameters

        Hyperparameters(units=0)
    assert "units" in describe_error(info.value)


def test_worker_argv():
    argv = worker_argv("training")
    assert argv[:7] == ["worker", "-Q", "training", "--concurrency", "1", "-P", "prefork"]
    assert "training@%h" in argv
    assert worker_argv("sampling")[:7] == ["worker", "-Q", "sampling", "--concurrency", "1", "-P", "threads"]
    assert worker_argv("sampling", concurrency=3, pool="solo", hostname="s@x", extra=["-E"])[-1] == "-E"
    with pytest.raises(ValueError):
        worker_argv("training", concurrency=2)
    with pytest.raises(SystemExit):
        main(["bogus"])
