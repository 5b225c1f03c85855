"""The training task: claim the job, fetch the corpus (and the latest checkpoint when resuming),
run the engine, upload each epoch's checkpoint and record it, finish the job. A heartbeat thread
reports liveness and progress and reads the cancel flag; a stopping worker hands the job back.

TensorFlow/Keras are imported inside `run_training` only, after the prefork worker has forked.
"""

from __future__ import annotations

import logging
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from shared.db.models import JobStatus
from shared.db.session import session_scope
from shared.settings import get_settings
from shared.storage import NotFound, ObjectStore, StorageError, get_store

from . import jobs_db, shutdown
from .celery_app import TRAIN_TASK, celery_app, enqueue_training
from .errors import JobError, describe_error
from .heartbeat import Heartbeat

log = logging.getLogger(__name__)

LOST = "lost"


def checkpoint_key(job_id: int, epoch: int) -> str:
    """Where an epoch's checkpoint folder lives in the object store (a key prefix)."""
    return f"jobs/{job_id}/epoch-{epoch:04d}"


@celery_app.task(name=TRAIN_TASK, bind=True)
def train_job(self, job_id: int, token: str | None = None) -> str:
    shutdown.install_handler()
    return run_training(job_id, token, worker=self.request.hostname or socket.gethostname())


class JobCallbacks:
    """The engine's TrainingCallbacks for one job: progress to the heartbeat thread, a stop when
    the job is cancelled or the worker is stopping, upload-then-record for every epoch."""

    def __init__(self, job_id: int, store: ObjectStore, pulse: Heartbeat, db_url: str | None = None):
        self.job_id, self.store, self.pulse, self.db_url = job_id, store, pulse, db_url
        self.worker = pulse.worker

    def on_train_begin(self, start_epoch: int, epochs: int, batches_per_epoch: int) -> None:
        log.info("job %s: epochs %d..%d, %d batches each", self.job_id, start_epoch, epochs, batches_per_epoch)

    def on_batch_end(self, epoch: int, batch: int, batches_per_epoch: int) -> None:
        self.pulse.progress = batch / max(1, batches_per_epoch)

    def should_stop(self) -> bool:
        return self.pulse.cancelled or self.pulse.lost or shutdown.requested()

    def on_epoch_end(self, report, checkpoint_dir: Path) -> None:
        key = checkpoint_key(self.job_id, report.epoch)
        try:
            self.store.put_dir(key, checkpoint_dir)  # upload first: a recorded epoch always has its files
        except StorageError as exc:
            raise JobError(f"could not upload the checkpoint of epoch {report.epoch}: {exc}") from exc
        with session_scope(self.db_url) as session:
            jobs_db.record_epoch(session, self.job_id, report, key, self.worker)
        self.pulse.progress = 0.0
        log.info("job %s: epoch %d loss %.4f val_loss %s", self.job_id, report.epoch, report.loss, report.val_loss)


def run_training(job_id: int, token: str | None = None, worker: str = "", store: ObjectStore | None = None) -> str:
    """Run (or resume) one job until it ends or its worker stops; returns the final status,
    "requeued" (handed back by a stopping worker), "lost" (given to another worker) or "skipped"."""
    settings = get_settings()
    worker = worker or socket.gethostname()
    work = _claim(job_id, token, worker, settings)
    if work is None:
        return "skipped"
    with Heartbeat(jobs_db.heartbeat, job_id, worker, settings.heartbeat_interval) as pulse:
        try:
            status, error = _attempt(work, store, pulse, settings.scratch_dir)
        except jobs_db.JobLost:
            return _lost(job_id)
    if status is None:
        return _hand_back(job_id, worker)
    with session_scope() as session:
        if status == JobStatus.succeeded and jobs_db.cancel_requested(session, job_id):
            status = JobStatus.cancelled
        if not jobs_db.finish_job(session, job_id, status, error, worker):
            return _lost(job_id)
    log.info("job %s: %s", job_id, status.value)
    return status.value


def _lost(job_id: int) -> str:
    log.warning("job %s: given to another worker while this one was silent; stopped here", job_id)
    return LOST


def _attempt(work, store, pulse, scratch_root) -> tuple[JobStatus | None, str | None]:
    """One attempt in a scratch folder: (status, error); status None: the worker is stopping.
    Raises JobLost when the job was given to another worker."""
    scratch = None
    try:
        store = store or get_store()
        scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"job-{work.job_id}-", dir=scratch_root))
        return _train(work, store, scratch, pulse), None
    except jobs_db.JobLost:
        raise
    except Exception as exc:  # noqa: BLE001  every failure ends as a failed job with a reason
        error, expected = describe_error(exc), isinstance(exc, (JobError, ValueError))
        log.log(logging.INFO if expected else logging.ERROR, "job %s failed: %s", work.job_id, error,
                exc_info=not expected)
        return JobStatus.failed, error
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        _free_keras_memory()


def _claim(job_id: int, token: str | None, worker: str, settings) -> jobs_db.TrainingWork | None:
    """Claim the job; while another worker holds it, watch its heartbeat: if the heartbeat moves,
    that worker is alive and this message is a duplicate; if it goes stale, take the job over."""
    seen = None
    while True:
        with session_scope() as session:
            claim = jobs_db.claim_job(session, job_id, worker, token)
        if not isinstance(claim, jobs_db.Busy):
            if claim is None:
                log.info("job %s: nothing to do", job_id)
            return claim
        if seen is not None and claim.heartbeat_at != seen:
            log.info("job %s: running on %s, which is alive; message dropped", job_id, claim.worker)
            return None
        seen = claim.heartbeat_at
        time.sleep(min(1.0, settings.heartbeat_interval))


def _hand_back(job_id: int, worker: str) -> str:
    """The worker is stopping: put the job back in the queue to resume from its last checkpoint."""
    with session_scope() as session:
        token = jobs_db.requeue_job(session, job_id, worker)
    if token is None:
        return "skipped"
    try:
        enqueue_training(job_id, token)
    except Exception as exc:  # noqa: BLE001  the reconciler sends it again
        log.warning("job %s: requeued, but its message could not be sent (%s); the reconciler will", job_id, exc)
    log.info("job %s: handed back to the queue (worker stopping)", job_id)
    return "requeued"


def _free_keras_memory() -> None:
    """Drop Keras's global state between jobs (this process trains job after job)."""
    if "keras" in sys.modules:
        try:
            sys.modules["keras"].backend.clear_session()
        except Exception as exc:  # noqa: BLE001
            log.warning("clear_session failed: %s", exc)


def _train(work: jobs_db.TrainingWork, store: ObjectStore, scratch: Path, pulse: Heartbeat) -> JobStatus | None:
    """Train to the end: succeeded; cancelled; None when stopped because the worker is stopping."""
    from pydantic import ValidationError

    from shared.engine.config import Hyperparameters
    from shared.engine.corpus import decode_bytes
    from shared.engine.train import train

    try:
        hp = Hyperparameters(**work.hyperparameters)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'hyperparameters'}: {e['msg']}" for e in exc.errors())
        raise JobError(f"invalid hyperparameters: {problems}") from None
    corpus_path = scratch / "corpus.txt"
    try:
        store.retrying(lambda: store.get_file(work.corpus_key, corpus_path), f"download {work.corpus_key}")
    except NotFound:
        raise JobError(f"the corpus file {work.corpus_key} is missing from object storage") from None
    text = decode_bytes(corpus_path.read_bytes(), work.corpus_key)
    corpus_path.unlink()
    run_dir = scratch / "run"
    if work.resume_key:
        try:
            store.get_dir(work.resume_key, run_dir / "checkpoints" / f"epoch-{work.resume_epoch:04d}")
        except NotFound:
            raise JobError(f"cannot resume: the checkpoint of epoch {work.resume_epoch} is missing") from None
    result = train(text, hp, run_dir, callbacks=JobCallbacks(work.job_id, store, pulse), resume=bool(work.resume_key))
    if result.stopped != "callback":
        return JobStatus.succeeded
    pulse.pulse()  # read the flags now: a cancel wins over a shutdown
    if pulse.lost:
        raise jobs_db.JobLost(f"job {work.job_id} was given to another worker")
    return JobStatus.cancelled if pulse.cancelled else None
