"""The workers' parts in-process: callbacks, heartbeats, cache, argv, error messages, imports.
(The database steps they call are shared/lifecycle's, tested in tests/lifecycle.)"""

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from shared import lifecycle
from shared.db.models import Job, WorkStatus
from shared.engine.inference.sample import sample_names
from shared.engine.training.train import EpochReport, TrainingCallbacks
from shared.storage import LocalStore, NotFound, StorageError
from workers import shutdown
from workers.__main__ import main, worker_argv
from workers.errors import JobError, describe_error
from workers.heartbeat import Heartbeat
from workers.model_cache import ModelCache
from workers.training import JobCallbacks


def report(epoch, loss=1.5, val_loss=1.6):
    return EpochReport(epoch=epoch, loss=loss, val_loss=val_loss, seconds=2.0, chars_per_second=1000.0)


@pytest.fixture
def job_id(make_corpus, make_job):
    return make_job(make_corpus(upload=False))


def get_job(db, job_id):
    with db() as session:
        return session.get(Job, job_id)


def epochs_of(db, job_id) -> list[tuple]:
    with db() as session:
        return [(e.epoch, e.loss, e.checkpoint_key) for e in session.get(Job, job_id).epochs]


def test_no_tensorflow_when_importing_workers():
    code = (
        "import sys, workers.training, workers.sampling, workers.app, workers.reconciler, workers.__main__\n"
        "bad = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_heartbeat_writes_progress_and_reads_the_cancel_flag(db, job_id, worker_db_url, wait_for):
    with db() as session:
        lifecycle.claim_job(session, job_id, "w")
    first_beat = get_job(db, job_id).heartbeat_at
    heartbeat = Heartbeat(lifecycle.job_heartbeat, job_id, "w", interval=0.05, db_url=worker_db_url)
    callbacks = JobCallbacks(job_id, LocalStore("/nonexistent"), heartbeat, db_url=worker_db_url)
    assert {m for m in vars(TrainingCallbacks) if not m.startswith("_")} <= set(dir(callbacks))
    with heartbeat:
        callbacks.on_batch_end(1, 5, 10)
        job = wait_for(lambda: (j := get_job(db, job_id)).progress == 0.5 and j, 10, what="a heartbeat")
        assert job.heartbeat_at > first_beat and callbacks.should_stop() is False
        with db() as session:
            session.get(Job, job_id).cancel_requested = True
        wait_for(callbacks.should_stop, 10, what="the cancel flag read back")
        assert heartbeat.cancelled and not heartbeat.lost


def test_a_worker_whose_job_was_given_away_stops_and_touches_nothing(db, job_id, worker_db_url, tmp_path):
    with db() as session:
        lifecycle.claim_job(session, job_id, "w1")
    with db() as session:  # w1 fell silent; the reconciler gave the job to w2
        lifecycle.claim_job(session, job_id, "w2", heartbeat_timeout=0)
    heartbeat = Heartbeat(lifecycle.job_heartbeat, job_id, "w1", interval=1.0, db_url=worker_db_url)
    heartbeat.beat()
    assert heartbeat.lost and JobCallbacks(job_id, LocalStore(tmp_path), heartbeat).should_stop()
    with db() as session:
        with pytest.raises(lifecycle.JobLost):
            lifecycle.record_epoch(session, job_id, report(1), "k", worker="w1")
        assert lifecycle.finish_job(session, job_id, WorkStatus.failed, "x", worker="w1") is False
        assert lifecycle.requeue_job(session, job_id, "w1") is None
    job = get_job(db, job_id)
    assert job.status == WorkStatus.running and job.worker == "w2" and job.epoch == 0


def test_an_attempt_that_lost_its_claim_writes_beside_the_new_one_and_records_nothing(
    db, job_id, worker_db_url, tmp_path
):
    """Fencing by lease, not by worker name: the same worker claims the job again (its earlier
    attempt was paused past the heartbeat timeout); the earlier attempt, waking up, uploads under
    its own lease and cannot record, so the new attempt's epoch and objects stay as they were."""
    store = LocalStore(tmp_path / "objects")
    folder = tmp_path / "epoch"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"old attempt")
    with db() as session:
        old = lifecycle.claim_job(session, job_id, "w").lease
    with db() as session:
        new = lifecycle.claim_job(session, job_id, "w", heartbeat_timeout=0).lease
    assert old != new
    current = JobCallbacks(
        job_id, store, Heartbeat(lifecycle.job_heartbeat, job_id, "w", 1.0, lease=new), worker_db_url
    )
    stale = JobCallbacks(
        job_id, store, Heartbeat(lifecycle.job_heartbeat, job_id, "w", 1.0, worker_db_url, old), worker_db_url
    )
    current.on_epoch_end(report(1, loss=1.0), folder)
    recorded = epochs_of(db, job_id)[0][2]
    with pytest.raises(lifecycle.JobLost):
        stale.on_epoch_end(report(1, loss=9.0), folder)
    assert epochs_of(db, job_id) == [(1, 1.0, recorded)]
    assert recorded == f"jobs/{job_id}/{new}/epoch-0001"
    assert store.list(f"jobs/{job_id}/{new}/") == [f"{recorded}/model.keras"]
    assert store.list(f"jobs/{job_id}/{old}/") == [f"jobs/{job_id}/{old}/epoch-0001/model.keras"]  # an orphan
    stale.heartbeat.beat()
    assert stale.heartbeat.lost and not current.heartbeat.lost


def test_a_stopping_worker_stops_the_job(job_id, worker_db_url, monkeypatch):
    callbacks = JobCallbacks(job_id, LocalStore("/nonexistent"), Heartbeat(lifecycle.job_heartbeat, job_id, "w", 1.0))
    assert callbacks.should_stop() is False
    monkeypatch.setattr(shutdown, "_requested", threading.Event())
    shutdown.request()
    assert callbacks.should_stop() is True


def test_a_stopping_process_never_takes_a_job(db, job_id, monkeypatch):
    """The hand-back message of a stopping worker's own job goes back to the broker untouched."""
    from celery.exceptions import Reject

    from workers.training import train_task

    monkeypatch.setattr(shutdown, "_requested", threading.Event())
    shutdown.request()
    with pytest.raises(Reject) as raised:
        train_task(None, job_id)
    assert raised.value.requeue is True
    job = get_job(db, job_id)
    assert (job.status, job.attempts, job.started_at) == (WorkStatus.queued, 0, None)


def test_epoch_end_uploads_then_records(db, job_id, worker_db_url, tmp_path):
    store = LocalStore(tmp_path / "objects")
    folder = tmp_path / "epoch-0001"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"weights")
    (folder / "checkpoint.json").write_text("{}")
    with db() as session:
        lease = lifecycle.claim_job(session, job_id, "w").lease
    heartbeat = Heartbeat(lifecycle.job_heartbeat, job_id, "w", 1.0, lease=lease)
    cb = JobCallbacks(job_id, store, heartbeat, db_url=worker_db_url)
    cb.on_epoch_end(report(1), folder)
    assert store.list(f"jobs/{job_id}/") == [
        f"jobs/{job_id}/{lease}/epoch-0001/checkpoint.json",
        f"jobs/{job_id}/{lease}/epoch-0001/model.keras",
    ]
    assert epochs_of(db, job_id) == [(1, 1.5, f"jobs/{job_id}/{lease}/epoch-0001")]

    class BrokenStore(LocalStore):
        def put_file(self, key, path):
            raise StorageError("disk full")

    cb = JobCallbacks(job_id, BrokenStore(tmp_path / "broken"), cb.heartbeat, db_url=worker_db_url)
    with pytest.raises(JobError, match="could not upload the checkpoint of epoch 2: disk full"):
        cb.on_epoch_end(report(2), folder)
    assert get_job(db, job_id).epoch == 1  # not recorded without its files


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


def test_model_cache_loads_different_models_at_the_same_time():
    """A slow load (a checkpoint download retrying through a storage outage) blocks only its own key."""
    release, started = threading.Event(), threading.Event()

    def load(key):
        if key == "slow":
            started.set()
            assert release.wait(10)
        return key.upper()

    cache = ModelCache(2, load)
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(cache.get, "slow")
        assert started.wait(10)
        assert pool.submit(cache.get, "fast").result(timeout=5) == "FAST"  # while "slow" is still loading
        assert not slow.done()
        release.set()
        assert slow.result(timeout=5) == "SLOW"
    assert cache.misses == 2 and "slow" in cache and "fast" in cache


def test_model_cache_forgets_a_failed_load():
    calls = []

    def load(key):
        calls.append(key)
        if len(calls) == 1:
            raise OSError("storage down")
        return key.upper()

    cache = ModelCache(2, load)
    with pytest.raises(OSError):
        cache.get("a")
    assert cache.get("a") == "A" and calls == ["a", "a"]


def test_model_cache_is_lru():
    loads: list[str] = []

    def load(key: str) -> str:
        loads.append(key)
        return key.upper()

    cache = ModelCache(2, load)
    assert cache.get("a") == "A" and cache.get("b") == "B" and cache.get("a") == "A"
    cache.get("c")  # evicts b, the least recently used
    assert "b" not in cache and "a" in cache and len(cache) == 2
    cache.get("b")
    assert loads == ["a", "b", "c", "b"] and cache.hits == 1


def test_sample_names_follow_temperature_then_index():
    assert sample_names([0.5, 1.0], 2) == [
        "sample-1-t0.5.txt",
        "sample-2-t0.5.txt",
        "sample-1-t1.txt",
        "sample-2-t1.txt",
    ]
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
    # several sample requests at once by default (docs/operations.md: threads sharing one model cache)
    assert worker_argv("sampling")[:7] == ["worker", "-Q", "sampling", "--concurrency", "4", "-P", "threads"]
    assert worker_argv("sampling", concurrency=3, pool="solo", hostname="s@x", extra=["-E"])[-1] == "-E"
    assert worker_argv("sampling", quiet=True)[:2] == ["--quiet", "worker"]  # make up: no banner
    with pytest.raises(ValueError):
        worker_argv("training", concurrency=2)
    with pytest.raises(SystemExit):
        main(["bogus"])
