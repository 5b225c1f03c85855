"""Real parts for the worker tests: a fresh PostgreSQL database, Redis db 14 as the broker, a moto
S3 server (`s3_endpoint` from tests/conftest.py), and `python -m workers training|sampling`
started as subprocesses against them.
"""

import os
import uuid
from contextlib import contextmanager

import pytest
import redis

from shared.db.migrate import upgrade
from shared.db.models import Job, User
from shared.db.session import session_scope
from shared.settings import Settings
from shared.storage import S3Store
from tests import waiting
from tests.factories import corpus_row
from tests.workers.processes import WorkerProcess, stdlib_text

BROKER_URL = os.environ.get("TEST_WORKER_BROKER_URL", "redis://127.0.0.1:6379/14")
BUCKET = "charlstm-workers-test"
S3_KEYS = {"S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing", "S3_REGION": "us-east-1"}
TINY_HP = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "epochs": 2, "validation_split": 0.1}


@pytest.fixture(scope="session")
def worker_db_url(make_pg_database):
    """URL of a fresh, migrated PostgreSQL database of the workers' own (dropped at the end)."""
    url = make_pg_database()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def worker_env(worker_db_url, s3_endpoint, tmp_path_factory):
    """Environment of the worker processes (and of `worker_settings`)."""
    redis.Redis.from_url(BROKER_URL).flushdb()
    env = {
        "DATABASE_URL": worker_db_url,
        "BROKER_URL": BROKER_URL,
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_BUCKET": BUCKET,
        "CHARLSTM_VAR_DIR": str(tmp_path_factory.mktemp("worker-var")),
        "MODEL_CACHE_SIZE": "2",
        "STORAGE_RETRY_DELAY": "0.1",
        "RETENTION_KEEP_EVERY": "1",  # keep every checkpoint unless a job's own policy says otherwise
        **S3_KEYS,
    }
    yield env
    redis.Redis.from_url(BROKER_URL).flushdb()


@pytest.fixture(scope="session")
def worker_settings(worker_env):
    """Settings equal to what the workers see."""
    return Settings(**worker_env)


@pytest.fixture(scope="session")
def worker_store(worker_settings):
    """The S3Store of the workers' bucket, seen from the test process."""
    store = S3Store(
        bucket=BUCKET,
        endpoint_url=worker_settings.s3_endpoint_url,
        access_key_id="testing",
        secret_access_key="testing",
    )
    store.ensure_bucket()
    return store


class Sender:
    """Sends queue messages to the workers through the queue contract (shared.queue)."""

    def __init__(self, celery):
        self.celery = celery

    def training(self, job_id: int, token: str | None = None) -> None:
        from shared.queue import send_training

        send_training(self.celery, job_id, token)

    def sampling(self, sample_id: int, token: str | None = None) -> None:
        from shared.queue import send_sampling

        send_sampling(self.celery, sample_id, token)


@pytest.fixture(scope="module")
def enqueue(worker_settings):
    """`enqueue.training(job_id, token=None)` / `enqueue.sampling(sample_id)` on the workers' broker."""
    from shared.queue import make_celery

    celery = make_celery(worker_settings)
    yield Sender(celery)
    celery.close()


@contextmanager
def _worker(role, env, tmp_path_factory):
    worker = WorkerProcess(role, env, tmp_path_factory.mktemp(f"{role}-log") / f"{role}.log")
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def training_worker(worker_env, worker_store, tmp_path_factory):
    """A running `python -m workers training` subprocess (WorkerProcess: .hostname, .log_text())."""
    with _worker("training", worker_env, tmp_path_factory) as worker:
        yield worker


@pytest.fixture(scope="session")
def sampling_worker(worker_env, worker_store, tmp_path_factory):
    """A running `python -m workers sampling` subprocess."""
    with _worker("sampling", worker_env, tmp_path_factory) as worker:
        yield worker


@pytest.fixture(scope="session")
def db(worker_db_url):
    """`with db() as session:` a committing session on the workers' database."""
    return lambda: session_scope(worker_db_url)


@pytest.fixture(scope="session")
def test_user(worker_db_url):
    with session_scope(worker_db_url) as session:
        user = User(name=f"worker-tests-{uuid.uuid4().hex[:6]}")
        session.add(user)
        session.flush()
        return user.id


@pytest.fixture(scope="session")
def make_corpus(db, worker_store, test_user):
    """make_corpus(text=None, data=None, upload=True) -> corpus id; the file goes to corpora/<uuid>.txt."""

    def make(text: str | None = None, data: bytes | None = None, upload: bool = True) -> int:
        data = data if data is not None else (text if text is not None else stdlib_text(20_000)).encode("utf-8")
        key = f"corpora/{uuid.uuid4()}.txt"
        if upload:
            worker_store.put_bytes(key, data)
        with db() as session:
            corpus = corpus_row(owner_id=test_user, name="stdlib sample", object_key=key, text=data)
            session.add(corpus)
            session.flush()
            return corpus.id

    return make


@pytest.fixture(scope="session")
def make_job(db, test_user):
    """make_job(corpus_id, **hyperparameter overrides of TINY_HP) -> job id (queued). The row is written
    raw (not validated), so a test can store hyperparameters that are no longer valid."""

    def make(corpus_id: int, **hp) -> int:
        with db() as session:
            job = Job(owner_id=test_user, corpus_id=corpus_id, hyperparameters_json={**TINY_HP, **hp})
            session.add(job)
            session.flush()
            return job.id

    return make


@pytest.fixture(scope="session")
def wait_for():
    """wait_for(predicate, timeout, what=..., worker=...) polls until predicate() is truthy and
    returns its value; on timeout raises with the tail of the worker's log."""
    return _wait_for


def _wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition", worker=None):
    return waiting.wait_for(predicate, timeout, what, interval, [worker] if worker else [])


@pytest.fixture(scope="module")
def cluster(make_pg_database, tmp_path_factory):
    """A service of the module's own (tests/workers/cluster.py) for fault injection."""
    from tests.workers.cluster import Cluster

    cluster = Cluster(make_pg_database(), tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.close()
