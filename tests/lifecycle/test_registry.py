"""The worker registry's rules (shared.lifecycle.registry) on the real PostgreSQL test database:
register, beat, stop, alive/lost/stopped, what each process holds, pruning, and queue depths from
the database and from a real broker (Redis), one that is down and one that never answers."""

import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from shared.db.models import Analysis, Job, WorkerProcess, WorkStatus, utcnow
from shared.lifecycle import registry
from shared.queue import SAMPLING_QUEUE, TRAINING_QUEUE
from tests.factories import epoch_row, sample_row

from .conftest import TINY_HP


def identity(name="training@host-a", role="training", **fields) -> registry.Identity:
    return registry.Identity(
        name=name, hostname="host-a", role=role, pid=4242, version="0.1.0", queues=[TRAINING_QUEUE], **fields
    )


def age(db, instance: str, seconds: float) -> None:
    """Make a row's last heartbeat `seconds` old."""
    with db() as session:
        session.execute(
            update(WorkerProcess)
            .where(WorkerProcess.instance == instance)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )


def make_job(db, owner, corpus_id, status="queued", worker=None, dispatched=True) -> int:
    with db() as session:
        job = Job(
            owner_id=owner,
            corpus_id=corpus_id,
            hyperparameters_json=TINY_HP,
            status=WorkStatus(status),
            worker=worker,
            started_at=utcnow() if status == "running" else None,
        )
        session.add(job)
        session.flush()
        if not dispatched:  # waiting for its owner's turn (a column default fills a None at insert)
            job.dispatched_at = None
        return job.id


def test_register_beat_and_stop(db):
    with db() as session:
        instance = registry.register(session, identity(backend="tensorflow", devices="2 CPU cores", concurrency=1))
    with db() as session:
        row = session.scalar(select(WorkerProcess).where(WorkerProcess.instance == instance))
        assert (row.name, row.role, row.pid, row.queues, row.concurrency) == (
            "training@host-a",
            "training",
            4242,
            ["training"],
            1,
        )
        assert row.started_at == row.heartbeat_at and row.stopped_at is None
        first = row.heartbeat_at
    time.sleep(0.01)  # the next beat's time is later than the first
    with db() as session:
        assert registry.beat(session, instance) is True
    with db() as session:
        assert session.scalar(select(WorkerProcess.heartbeat_at).where(WorkerProcess.instance == instance)) > first
        registry.stopped(session, instance)
    with db() as session:
        assert registry.beat(session, instance) is False  # a stopped row is not revived: register again
        assert registry.beat(session, "no-such-instance") is False


def test_alive_lost_and_stopped(db):
    with db() as session:
        alive = registry.register(session, identity("training@a"))
        lost = registry.register(session, identity("training@b"))
        stopped = registry.register(session, identity("sampling@c", role="sampling"))
        registry.stopped(session, stopped)
    age(db, lost, 30)
    with db() as session:
        fleet = registry.fleet(session, lost_after_seconds=20)
        states = {w.name: w.state for w in fleet.workers}
        assert states == {"training@a": "alive", "training@b": "lost", "sampling@c": "stopped"}
        assert [w.state for w in fleet.workers] == ["alive", "lost", "stopped"]
        assert (fleet.count("alive"), fleet.count("lost"), fleet.count("stopped")) == (1, 1, 1)
        lost_view = next(w for w in fleet.workers if w.instance == lost)
        assert 29 <= (utcnow() - lost_view.last_seen).total_seconds() < 40
        # the same rows are alive again with a longer timeout
        assert registry.fleet(session, lost_after_seconds=60).count("alive") == 2
    assert alive


def test_running_records_belong_to_the_newest_process_of_their_worker(db, owner, corpus_id):
    with db() as session:
        old = registry.register(session, identity("training@a"))
    age(db, old, 300)
    with db() as session:
        new = registry.register(session, identity("training@a"))  # the same node, restarted
        sampler = registry.register(session, identity("sampling@b", role="sampling"))
    job_id = make_job(db, owner, corpus_id, "running", worker="training@a")
    make_job(db, owner, corpus_id, "succeeded", worker="training@a")  # finished: held by nobody
    orphan = make_job(db, owner, corpus_id, "running", worker="training@gone")
    with db() as session:
        session.add(epoch_row(job_id=job_id, val_loss=None, chars_per_second=1.0, checkpoint_key="k"))
        sample = sample_row(owner_id=owner, job_id=job_id, status="running", worker="sampling@b", progress=0.25)
        analysis = Analysis(
            owner_id=owner, job_id=job_id, epoch=1, checkpoint_key="k", status="running", worker="sampling@b"
        )
        session.add_all([sample, analysis])
        session.flush()
        sample_id, analysis_id = sample.id, analysis.id
    with db() as session:
        fleet = registry.fleet(session, lost_after_seconds=120)
    views = {w.instance: w for w in fleet.workers}
    assert views[old].state == "lost" and views[old].holds == []
    assert [(h.kind, h.id) for h in views[new].holds] == [("job", job_id)]
    assert [(h.kind, h.id, h.job_id) for h in views[sampler].holds] == [
        ("sample", sample_id, job_id),
        ("analysis", analysis_id, job_id),
    ]
    assert views[sampler].holds[0].progress == 0.25 and views[sampler].holds[1].progress is None
    assert [(h.kind, h.id, h.worker) for h in fleet.unregistered] == [("job", orphan, "training@gone")]


def test_old_rows_are_hidden_and_pruned(db):
    with db() as session:
        recent = registry.register(session, identity("training@a"))
        stale = registry.register(session, identity("training@b"))
        gone = registry.register(session, identity("training@c"))
        registry.stopped(session, gone)
    age(db, stale, registry.KEEP_SECONDS + 60)
    age(db, gone, registry.KEEP_SECONDS + 60)
    with db() as session:
        assert {w.instance for w in registry.fleet(session, 120).workers} == {recent}
        assert registry.prune(session) == 2
    with db() as session:
        assert session.scalars(select(WorkerProcess.instance)).all() == [recent]


def test_queue_depths_from_the_database(db, owner, corpus_id):
    make_job(db, owner, corpus_id, "queued", dispatched=True)
    make_job(db, owner, corpus_id, "queued", dispatched=False)
    make_job(db, owner, corpus_id, "queued", dispatched=False)
    job_id = make_job(db, owner, corpus_id, "running", worker="training@a")
    make_job(db, owner, corpus_id, "failed")
    with db() as session:
        session.add_all(
            [
                sample_row(owner_id=owner, job_id=job_id),
                waiting := sample_row(owner_id=owner, job_id=job_id),
                Analysis(owner_id=owner, job_id=job_id, epoch=1, checkpoint_key="k", status="running"),
            ]
        )
        session.flush()
        waiting.dispatched_at = None
    with db() as session:
        depths = {d.queue: d for d in registry.queue_depths(session)}
    training, sampling = depths[TRAINING_QUEUE], depths[SAMPLING_QUEUE]
    assert (training.kinds, training.waiting, training.dispatched, training.running) == (("job",), 2, 1, 1)
    assert (sampling.kinds, sampling.waiting, sampling.dispatched, sampling.running) == (
        ("sample", "analysis"),
        1,
        1,
        1,
    )
    assert training.broker is None and training.broker_error is None  # not asked


def test_queue_depths_from_a_real_broker(db, broker, settings):
    from shared.queue import make_celery, send_training

    celery = make_celery(settings)
    try:
        send_training(celery, 1, "t1")
        send_training(celery, 2, "t2")
        with db() as session:
            depths = {d.queue: d for d in registry.queue_depths(session, celery)}
    finally:
        celery.close()
    assert (depths[TRAINING_QUEUE].broker, depths[SAMPLING_QUEUE].broker) == (2, 0)
    assert depths[TRAINING_QUEUE].broker_error is None


def test_a_broker_that_is_down_becomes_a_message(db):
    from shared.queue import make_celery
    from shared.settings import Settings

    celery = make_celery(Settings(BROKER_URL="redis://127.0.0.1:1/0"))  # nothing listens on port 1
    began = time.monotonic()
    try:
        with db() as session:
            depths = registry.queue_depths(session, celery, broker_timeout=5)
    finally:
        celery.close()
    assert time.monotonic() - began < 5
    assert all(d.broker is None and "Connection refused" in (d.broker_error or "") for d in depths), depths


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers (a broker host that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_broker_that_never_answers_costs_at_most_the_timeout(db, silent_server):
    from shared.queue import make_celery
    from shared.settings import Settings

    celery = make_celery(Settings(BROKER_URL=f"redis://127.0.0.1:{silent_server}/0"))
    began = time.monotonic()
    with db() as session:
        depths = registry.queue_depths(session, celery, broker_timeout=0.5)
    elapsed = time.monotonic() - began
    assert elapsed < 1.5, elapsed
    assert all(d.broker is None and "did not answer within 0.5 s" in (d.broker_error or "") for d in depths)
    assert depths[0].waiting == 0  # the database's part is there all the same
