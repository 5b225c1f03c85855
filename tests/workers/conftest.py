"""Real parts for the worker tests: a fresh PostgreSQL database, Redis db 14 as the broker, a moto
S3 server (`s3_endpoint` from tests/conftest.py), and `python -m workers training|sampling`
started as subprocesses against them.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from shared.db.migrate import upgrade
from shared.db.models import Corpus, Job, User
from shared.db.session import session_scope
from shared.settings import Settings
from shared.storage import S3Store

ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = "redis://127.0.0.1:6379/14"
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
    store = S3Store(bucket=BUCKET, endpoint_url=worker_settings.s3_endpoint_url, access_key_id="testing",
                    secret_access_key="testing")
    store.ensure_bucket()
    return store


@pytest.fixture(scope="module")
def enqueue(worker_settings):
    """The project's celery_app pointed at the test broker (restored after the module); yields the
    `workers.celery_app` module, so tests call enqueue.enqueue_training(id) / enqueue_sampling(id)."""
    from workers import celery_app as module

    module.configure_celery(module.celery_app, worker_settings)
    yield module
    module.configure_celery(module.celery_app)


class WorkerProcess:
    """`python -m workers <role>` in its own process group, logging to a file."""

    def __init__(self, role: str, env: dict, log_path: Path):
        self.role, self.log_path = role, log_path
        self.hostname = f"{role}-{uuid.uuid4().hex[:6]}@test"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers", role, "--hostname", self.hostname, "--logfile", str(log_path)],
            cwd=ROOT, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=open(log_path.with_suffix(".stderr"), "wb"),
        )

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool processes (Linux /proc)."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def log_text(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.log_path, self.log_path.with_suffix(".stderr")) if p.exists()]
        return "\n".join(parts)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} worker exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if " ready." in self.log_text():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.role} worker not ready after {timeout}s:\n{self.log_text()[-3000:]}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the worker's process group (warm shutdown), then SIGKILL."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        try:  # prefork children left behind
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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


def stdlib_text(chars: int) -> str:
    """Python source from this interpreter's standard library, `chars` characters of it."""
    folder = Path(os.__file__).parent
    parts, total = [], 0
    for name in ["textwrap.py", "shlex.py", "fnmatch.py", "bisect.py", "heapq.py", "string.py", "calendar.py"]:
        text = (folder / name).read_text(encoding="utf-8")
        parts.append(text)
        total += len(text)
        if total >= chars:
            break
    return "".join(parts)[:chars]


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
        decoded = data.decode("utf-8", errors="replace")
        vocabulary = "".join(sorted(set(decoded)))
        with db() as session:
            corpus = Corpus(
                owner_id=test_user, name="stdlib sample", object_key=key, bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(), raw_chars=len(decoded), raw_unique=len(vocabulary),
                clean_chars=len(decoded), clean_unique=len(vocabulary), vocabulary=vocabulary,
            )
            session.add(corpus)
            session.flush()
            return corpus.id

    return make


@pytest.fixture(scope="session")
def make_job(db, test_user):
    """make_job(corpus_id, **hyperparameter overrides of TINY_HP) -> job id (queued)."""

    def make(corpus_id: int, **hp) -> int:
        with db() as session:
            job = Job(owner_id=test_user, corpus_id=corpus_id, hyperparameters={**TINY_HP, **hp})
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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    logs = f"\n--- worker log ---\n{worker.log_text()[-4000:]}" if worker else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}{logs}")
