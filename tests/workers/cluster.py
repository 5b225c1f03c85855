"""A service of the fault tests' own: a fresh PostgreSQL database, its own redis-server and moto
S3 server (which the tests stop and start), and worker/reconciler processes with short timeouts.
Nothing here is shared with the other worker tests, so a reconciler sees only these jobs."""

import uuid
from pathlib import Path

from sqlalchemy import select

from shared.db.migrate import upgrade
from shared.db.models import Analysis, Epoch, Job, Sample, User, WorkStatus
from shared.db.session import session_scope
from shared.settings import Settings
from shared.storage import S3Store
from tests.factories import corpus_row
from tests.waiting import wait_for
from tests.workers.processes import Reconciler, RedisServer, S3Server, WorkerProcess, stdlib_text

BUCKET = "charlstm-faults"
FAST = {  # seconds: a lost worker is noticed in about 4 s instead of 2 minutes
    "HEARTBEAT_INTERVAL": "0.5",
    "HEARTBEAT_TIMEOUT": "4",
    "RECONCILE_INTERVAL": "0.5",
    "REDISPATCH_AFTER": "3",
    "MAX_ATTEMPTS": "3",
    "STORAGE_RETRIES": "9",
    "STORAGE_RETRY_DELAY": "0.1",
    "S3_MAX_ATTEMPTS": "1",
    "RETENTION_KEEP_EVERY": "1",  # every checkpoint kept: the fault tests check each one
}
HP = {"layers": 1, "units": 16, "seq_len": 20, "batch_size": 8, "validation_split": 0.1, "patience": 0}


class Cluster:
    def __init__(self, db_url: str, folder: Path, worker_db_url: str | None = None, **env: str):
        """`worker_db_url`: the processes' way to the database (e.g. through a TcpProxy), while the
        test reads and writes `db_url` directly; `env`: more settings for the processes."""
        upgrade(db_url)
        self.db_url, self.folder = db_url, folder
        self.redis, self.s3 = RedisServer().start(), S3Server().start()
        self.env = {
            "DATABASE_URL": worker_db_url or db_url,
            "BROKER_URL": self.redis.url,
            "S3_ENDPOINT_URL": self.s3.url,
            "S3_BUCKET": BUCKET,
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_REGION": "us-east-1",
            "CHARLSTM_VAR_DIR": str(folder / "var"),
            **FAST,
            **env,
        }
        self.settings = Settings.model_validate(self.env)
        self.store = S3Store(
            bucket=BUCKET, endpoint_url=self.s3.url, access_key_id="testing", secret_access_key="testing"
        )
        self.store.ensure_bucket()
        self.processes: list = []
        with self.db() as session:
            user = User(name=f"faults-{uuid.uuid4().hex[:6]}")
            session.add(user)
            session.flush()
            self.user_id = user.id

    def db(self):
        return session_scope(self.db_url)

    # ---- processes ------------------------------------------------------------------------------

    def worker(self, role: str, *extra: str) -> WorkerProcess:
        worker = WorkerProcess(role, self.env, self.folder / f"{role}-{len(self.processes)}.log", list(extra))
        self.processes.append(worker)
        worker.wait_ready()
        return worker

    def reconciler(self) -> Reconciler:
        reconciler = Reconciler(self.env, self.folder / f"reconciler-{len(self.processes)}.log")
        self.processes.append(reconciler)
        return reconciler

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.redis.stop()
        self.s3.stop()

    # ---- records --------------------------------------------------------------------------------

    def job(self, epochs: int, chars: int = 20_000, **hp) -> int:
        """A queued job on a new corpus of Python source, its message sent."""
        data = stdlib_text(chars).encode("utf-8")
        key = f"corpora/{uuid.uuid4()}.txt"
        self.store.put_bytes(key, data)
        with self.db() as session:
            corpus = corpus_row(owner_id=self.user_id, name="stdlib", object_key=key, text=data)
            session.add(corpus)
            session.flush()
            job = Job(owner_id=self.user_id, corpus_id=corpus.id, hyperparameters={**HP, "epochs": epochs, **hp})
            session.add(job)
            session.flush()
            job_id, token = job.id, job.dispatch_token
        self.send("job", job_id, token)
        return job_id

    def sample(self, job_id: int, length: int, **fields) -> int:
        with self.db() as session:
            key = session.scalars(
                select(Epoch.checkpoint_key).where(Epoch.job_id == job_id).order_by(Epoch.epoch.desc())
            ).first()
            sample = Sample(
                owner_id=self.user_id, job_id=job_id, checkpoint_key=key, length=length, temperatures=[0.75], **fields
            )
            session.add(sample)
            session.flush()
            sample_id, token = sample.id, sample.dispatch_token
        self.send("sample", sample_id, token)
        return sample_id

    def analysis(self, job_id: int, text: str, send: bool = True) -> int:
        """A queued analysis of the job's latest checkpoint over `text`, its message sent (or not:
        `send` False, a message the broker lost)."""
        from shared import lifecycle

        with self.db() as session:
            job = session.get(Job, job_id)
            assert job is not None
            analysis = lifecycle.create_analysis(session, job.owner_id, job, job.epochs[-1], text)
            analysis_id, token = analysis.id, analysis.dispatch_token
        if send:
            self.send("analysis", analysis_id, token)
        return analysis_id

    def send(self, kind: str, record_id: int, token: str | None) -> None:
        from shared.queue import make_celery, send_message

        celery = make_celery(self.settings)
        try:
            send_message(celery, kind, record_id, token)
        finally:
            celery.close()

    def get_job(self, job_id: int) -> tuple[Job, list[int]]:
        with self.db() as session:
            job = session.get(Job, job_id)
            epochs = session.scalars(select(Epoch.epoch).where(Epoch.job_id == job_id).order_by(Epoch.epoch))
            return job, list(epochs)

    def checkpoint_keys(self, job_id: int) -> dict[int, str]:
        """Each recorded epoch's checkpoint key (under the lease of the attempt that wrote it)."""
        with self.db() as session:
            rows = session.execute(select(Epoch.epoch, Epoch.checkpoint_key).where(Epoch.job_id == job_id))
            return {row.epoch: row.checkpoint_key for row in rows}

    def get_sample(self, sample_id: int) -> Sample:
        with self.db() as session:
            return session.get(Sample, sample_id)

    def get_analysis(self, analysis_id: int) -> Analysis:
        with self.db() as session:
            return session.get(Analysis, analysis_id)

    def wait(self, predicate, timeout: float, what: str, interval: float = 0.1):
        return wait_for(predicate, timeout, what, interval, self.processes)

    def finished_job(self, job_id: int, timeout: float = 120):
        return self.wait(
            lambda: (r := self.get_job(job_id)) and WorkStatus(r[0].status).finished and r,
            timeout,
            f"job {job_id} to finish",
        )

    def finished_analysis(self, analysis_id: int, timeout: float = 120) -> Analysis:
        return self.wait(
            lambda: WorkStatus((a := self.get_analysis(analysis_id)).status).finished and a,
            timeout,
            f"analysis {analysis_id} to finish",
        )

    def finished_sample(self, sample_id: int, timeout: float = 120) -> Sample:
        done = (WorkStatus.succeeded, WorkStatus.failed)
        return self.wait(
            lambda: (s := self.get_sample(sample_id)).status in done and s, timeout, f"sample {sample_id} to finish"
        )
