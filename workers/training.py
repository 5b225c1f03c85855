"""The training task: claim the job, fetch the corpus (and the latest checkpoint when resuming),
run the engine, upload each epoch's checkpoint and record it, finish the job.

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

from . import jobs_db
from .celery_app import TRAIN_TASK, celery_app
from .errors import JobError, describe_error

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
CANCEL_POLL_SECONDS = 1.0


def checkpoint_key(job_id: int, epoch: int) -> str:
    """Where an epoch's checkpoint folder lives in the object store (a key prefix)."""
    return f"jobs/{job_id}/epoch-{epoch:04d}"


@celery_app.task(name=TRAIN_TASK, bind=True)
def train_job(self, job_id: int) -> str:
    return run_training(job_id, worker=self.request.hostname or socket.gethostname())


class JobCallbacks:
    """The engine's TrainingCallbacks for one job: throttled progress and cancel polling, and
    upload-then-record for every epoch's checkpoint."""

    def __init__(self, job_id: int, store: ObjectStore, clock=time.monotonic, db_url: str | None = None):
        self.job_id, self.store, self.clock, self.db_url = job_id, store, clock, db_url
        self._last_beat = self._last_poll = float("-inf")
        self._cancel = False

    def _db(self, what: str, fn, *args):
        """Progress and polling are best effort: a database hiccup must not end the training."""
        try:
            with session_scope(self.db_url) as session:
                return fn(session, self.job_id, *args)
        except Exception as exc:  # noqa: BLE001
            log.warning("job %s: could not %s: %s", self.job_id, what, exc)
            return None

    def on_train_begin(self, start_epoch: int, epochs: int, batches_per_epoch: int) -> None:
        log.info("job %s: epochs %d..%d, %d batches each", self.job_id, start_epoch, epochs, batches_per_epoch)
        self._last_beat = self.clock()
        self._db("record a heartbeat", jobs_db.heartbeat, 0.0)

    def on_batch_end(self, epoch: int, batch: int, batches_per_epoch: int) -> None:
        now = self.clock()
        if now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            self._db("record progress", jobs_db.heartbeat, batch / max(1, batches_per_epoch))

    def should_stop(self) -> bool:
        now = self.clock()
        if not self._cancel and now - self._last_poll >= CANCEL_POLL_SECONDS:
            self._last_poll = now
            self._cancel = bool(self._db("poll for cancellation", jobs_db.cancel_requested))
        return self._cancel

    def on_epoch_end(self, report, checkpoint_dir: Path) -> None:
        key = checkpoint_key(self.job_id, report.epoch)
        try:
            self.store.put_dir(key, checkpoint_dir)  # upload first: a recorded epoch always has its files
        except StorageError as exc:
            raise JobError(f"could not upload the checkpoint of epoch {report.epoch}: {exc}") from exc
        with session_scope(self.db_url) as session:
            jobs_db.record_epoch(session, self.job_id, report, key)
        self._last_beat = self.clock()
        log.info("job %s: epoch %d loss %.4f val_loss %s", self.job_id, report.epoch, report.loss, report.val_loss)


def run_training(job_id: int, worker: str = "", store: ObjectStore | None = None) -> str:
    """Run (or resume) one job to its end; returns the final status, or "skipped"."""
    with session_scope() as session:
        work = jobs_db.claim_job(session, job_id, worker or socket.gethostname())
    if work is None:
        log.info("job %s: nothing to do", job_id)
        return "skipped"
    scratch = None
    try:
        store = store or get_store()
        scratch_root = get_settings().scratch_dir
        scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=scratch_root))
        status, error = _train(work, store, scratch), None
    except Exception as exc:  # noqa: BLE001  every failure ends as a failed job with a reason
        error, expected = describe_error(exc), isinstance(exc, (JobError, ValueError))
        log.log(logging.INFO if expected else logging.ERROR, "job %s failed: %s", job_id, error, exc_info=not expected)
        status = JobStatus.failed
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        _free_keras_memory()
    with session_scope() as session:
        if status == JobStatus.succeeded and jobs_db.cancel_requested(session, job_id):
            status = JobStatus.cancelled
        jobs_db.finish_job(session, job_id, status, error)
    log.info("job %s: %s", job_id, status.value)
    return status.value


def _free_keras_memory() -> None:
    """Drop Keras's global state between jobs (this process trains job after job)."""
    if "keras" in sys.modules:
        try:
            sys.modules["keras"].backend.clear_session()
        except Exception as exc:  # noqa: BLE001
            log.warning("clear_session failed: %s", exc)


def _train(work: jobs_db.TrainingWork, store: ObjectStore, scratch: Path) -> JobStatus:
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
        store.get_file(work.corpus_key, corpus_path)
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
    result = train(text, hp, run_dir, callbacks=JobCallbacks(work.job_id, store), resume=bool(work.resume_key))
    return JobStatus.cancelled if result.stopped == "callback" else JobStatus.succeeded
