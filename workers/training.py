"""The training task: claim the job, fetch the corpus (and the latest checkpoint when resuming),
run the engine, upload each epoch's checkpoint and record it, finish the job. A heartbeat thread
reports liveness and progress and reads the cancel flag; a stopping worker hands the job back.

Every state change goes through shared.lifecycle. TensorFlow/Keras are imported inside `_train`
only, after the prefork worker has forked.
"""

from __future__ import annotations

import functools
import logging
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from celery import Celery
from celery.exceptions import Reject
from sqlalchemy import select

from shared import lifecycle
from shared.actions import delete as deletion
from shared.db.models import Job, WorkStatus
from shared.db.retry import run_in_session
from shared.db.session import session_scope
from shared.engine.training import devices
from shared.engine.training.train import TrainingCallbacks, TrainingPlan
from shared.logs import log_context
from shared.queue import send_training
from shared.settings import Settings, get_settings
from shared.storage import NotFound, ObjectStore, StorageError, get_store
from shared.storage.keys import checkpoint_key

from . import fair, shutdown
from .errors import JobError, describe_error
from .heartbeat import Heartbeat
from .live_loss import LiveLoss

log = logging.getLogger(__name__)

LOST, REQUEUED, SKIPPED = "lost", "requeued", "skipped"


def train_task(self, job_id: int, token: str | None = None) -> str:
    """The Celery task (registered by workers/app.py). A process that is stopping never takes a
    job: the message goes back to the broker untouched (for a worker that is not stopping), so a
    job handed back by this worker's Ctrl-C is not taken again and handed back twice."""
    shutdown.install_handler()
    with log_context(job=job_id):
        if shutdown.requested():
            log.info("job %s: this worker is stopping; message returned to the queue", job_id)
            raise Reject(shutdown.STOPPING, requeue=True)
        return run_training(job_id, token, worker=self.request.hostname or socket.gethostname(), celery=self.app)


class JobCallbacks(TrainingCallbacks):
    """The engine's TrainingCallbacks for one job: the model's vocabulary recorded at the start,
    progress to the heartbeat thread, a stop when the job is cancelled or the worker is stopping,
    upload-then-record for every epoch."""

    def __init__(
        self,
        job_id: int,
        store: ObjectStore,
        heartbeat: Heartbeat,
        db_url: str | None = None,
        live: LiveLoss | None = None,
    ):
        self.job_id, self.store, self.heartbeat, self.db_url = job_id, store, heartbeat, db_url
        self.worker, self.lease = heartbeat.worker, heartbeat.lease or ""
        self.live = live

    def on_train_begin(self, plan: TrainingPlan) -> None:
        characters = plan.vocabulary.to_json()
        chosen = plan.hyperparameters if plan.budget is not None else None
        run_in_session(
            lambda s: lifecycle.record_vocabulary(
                s, self.job_id, characters, self.worker, self.lease or None, plan.unigram_bits, chosen
            ),
            "recording the vocabulary",
            self.db_url,
        )
        for reason in plan.budget.reasons if plan.budget is not None else ():
            log.info("job %s: budgeted recipe: %s", self.job_id, reason)
        log.info(
            "job %s: epochs %d..%d, %d batches each", self.job_id, plan.start_epoch, plan.epochs, plan.batches_per_epoch
        )
        log.info("job %s: training with %s", self.job_id, devices.describe())

    def on_batch_end(self, epoch: int, batch: int, batches_per_epoch: int) -> None:
        self.heartbeat.progress = batch / max(1, batches_per_epoch)

    def on_batch_loss(self, epoch: int, batch: int, batches_per_epoch: int, loss: float) -> None:
        if self.live is not None:
            self.live.update(epoch, batch, batches_per_epoch, loss)

    def should_stop(self) -> bool:
        return self.heartbeat.cancelled or self.heartbeat.lost or shutdown.requested()

    def on_epoch_end(self, report, checkpoint_dir: Path) -> None:
        if self.heartbeat.lost:  # another attempt holds the job: write nothing (the loop stops at its next batch)
            raise lifecycle.JobLost(f"job {self.job_id} was given to another worker")
        # under this attempt's lease: never a key another attempt wrote or recorded
        key = checkpoint_key(self.job_id, report.epoch, self.lease)
        try:
            self.store.put_dir(key, checkpoint_dir)  # upload first: a recorded epoch always has its files
        except StorageError as exc:
            raise JobError(f"could not upload the checkpoint of epoch {report.epoch}: {exc}") from exc
        size = sum(p.stat().st_size for p in Path(checkpoint_dir).rglob("*") if p.is_file())
        run_in_session(
            lambda s: lifecycle.record_epoch(
                s, self.job_id, report, key, self.worker, checkpoint_bytes=size, lease=self.lease or None
            ),
            f"recording epoch {report.epoch}",
            self.db_url,
        )
        self.heartbeat.progress = 0.0
        log.info("job %s: epoch %d loss %.4f val_loss %s", self.job_id, report.epoch, report.loss, report.val_loss)
        self.prune()

    def prune(self) -> None:
        """Apply the job's retention policy: delete the checkpoints it no longer keeps, then mark
        them (a failure is retried at the next epoch; training goes on)."""
        try:
            plan = run_in_session(lambda s: lifecycle.retention.prune_plan(s, self.job_id), "planning", self.db_url)
            for _, key in plan:
                self.store.retrying(functools.partial(self.store.delete_prefix, key + "/"), f"delete {key}")
            epochs = [epoch for epoch, _ in plan]
            run_in_session(lambda s: lifecycle.retention.mark_pruned(s, self.job_id, epochs), "pruning", self.db_url)
        except StorageError as exc:
            log.warning("job %s: could not delete pruned checkpoints (%s); next epoch", self.job_id, exc)
            return
        if plan:
            log.info("job %s: retention deleted the checkpoints of epochs %s", self.job_id, epochs)


def run_training(
    job_id: int,
    token: str | None = None,
    worker: str = "",
    store: ObjectStore | None = None,
    celery: Celery | None = None,
) -> str:
    """Run (or resume) one job until it ends or its worker stops; returns the final status,
    "requeued" (handed back by a stopping worker), "lost" (given to another worker) or "skipped".
    `celery` sends the hand-back message (the reconciler re-sends it when there is none)."""
    settings = get_settings()
    worker = worker or socket.gethostname()
    work = _claim(job_id, token, worker, settings)
    fair.send_next(celery, Job, job_id)  # its message left the broker: the owner's next job's turn
    if work is None:
        return SKIPPED
    interval = settings.heartbeat_interval
    with Heartbeat(lifecycle.job_heartbeat, job_id, worker, interval, lease=work.lease) as heartbeat:
        try:
            status, error = _attempt(work, store, heartbeat, settings.scratch_dir)
        except lifecycle.JobLost:
            return _lost(job_id)
    if status is None:
        return _hand_back(job_id, worker, work.lease, celery)
    finished = run_in_session(
        lambda s: lifecycle.finish_job(s, job_id, status, error, worker, work.lease),
        f"finishing the job ({status.value})",
    )
    if not finished:
        return _lost(job_id)
    log.info("job %s: %s", job_id, status.value)
    _finish_delete(job_id, store)
    return status.value


def _finish_delete(job_id: int, store: ObjectStore | None) -> None:
    """A job deleted with ?cancel=true while it ran: delete it now that it has stopped (else a
    second delete or the reconciler will)."""
    if not run_in_session(lambda s: s.scalar(select(Job.deleting_at).where(Job.id == job_id)), "reading the job"):
        return
    try:
        outcome = deletion.delete_job(session_scope, store or get_store(), job_id)
    except Exception as exc:  # noqa: BLE001  the reconciler finishes it
        log.warning("job %s: could not finish its delete (%s); the reconciler will", job_id, exc)
        return
    log.info("job %s: delete %s", job_id, outcome)


def _lost(job_id: int) -> str:
    log.warning("job %s: given to another worker while this one was silent; stopped here", job_id)
    return LOST


def _attempt(
    work: lifecycle.TrainingWork, store: ObjectStore | None, heartbeat: Heartbeat, scratch_root: Path
) -> tuple[WorkStatus | None, str | None]:
    """One attempt in a scratch folder: (status, error); status None: the worker is stopping.
    Raises JobLost when the job was given to another worker."""
    scratch = None
    try:
        store = store or get_store()
        scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"job-{work.job_id}-", dir=scratch_root))
        return _train(work, store, scratch, heartbeat), None
    except lifecycle.JobLost:
        raise
    except Exception as exc:
        error, expected = describe_error(exc), isinstance(exc, (JobError, ValueError))
        log.log(
            logging.INFO if expected else logging.ERROR, "job %s failed: %s", work.job_id, error, exc_info=not expected
        )
        return WorkStatus.failed, error
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        _free_keras_memory()


def _claim(job_id: int, token: str | None, worker: str, settings: Settings) -> lifecycle.TrainingWork | None:
    """Claim the job; while another worker holds it, watch its heartbeat: if the heartbeat moves,
    that worker is alive and this message is a duplicate; if it goes stale, take the job over."""
    seen = None
    while not shutdown.requested():
        claim = run_in_session(lambda s: lifecycle.claim_job(s, job_id, worker, token), "claiming the job")
        if not isinstance(claim, lifecycle.Busy):
            if claim is None:
                log.info("job %s: nothing to do", job_id)
            return claim
        if seen is not None and claim.heartbeat_at != seen:
            log.info("job %s: running on %s, which is alive; message dropped", job_id, claim.worker)
            return None
        seen = claim.heartbeat_at
        time.sleep(min(1.0, settings.heartbeat_interval))
    return None


def _hand_back(job_id: int, worker: str, lease: str, celery: Celery | None) -> str:
    """The worker is stopping: put the job back in the queue to resume from its last checkpoint."""
    token = run_in_session(lambda s: lifecycle.requeue_job(s, job_id, worker, lease), "handing the job back")
    if token is None:
        return SKIPPED
    try:
        if celery is None:
            raise RuntimeError("no Celery app to send with")
        send_training(celery, job_id, token)
    except Exception as exc:  # noqa: BLE001  the reconciler sends it again
        log.warning("job %s: requeued, but its message could not be sent (%s); the reconciler will", job_id, exc)
    log.info("job %s: handed back to the queue (worker stopping)", job_id)
    return REQUEUED


def _free_keras_memory() -> None:
    """Drop Keras's global state between jobs (this process trains job after job)."""
    if "keras" in sys.modules:
        try:
            sys.modules["keras"].backend.clear_session()
        except Exception as exc:  # noqa: BLE001
            log.warning("clear_session failed: %s", exc)


def _train(work: lifecycle.TrainingWork, store: ObjectStore, scratch: Path, heartbeat: Heartbeat) -> WorkStatus | None:
    """Train to the end: succeeded; cancelled; None when stopped because the worker is stopping."""
    from shared.engine.config import FORKABLE
    from shared.engine.data.corpus import decode_bytes
    from shared.engine.training.checkpoint import epoch_dir
    from shared.engine.training.train import train

    corpus_path = scratch / "corpus.txt"
    try:
        store.retrying(lambda: store.get_file(work.corpus_key, corpus_path), f"download {work.corpus_key}")
    except NotFound:
        raise JobError(f"the corpus file {work.corpus_key} is missing from object storage") from None
    if shutdown.requested():  # asked while TensorFlow loaded or the corpus downloaded: hand back now
        return None
    text = decode_bytes(corpus_path.read_bytes(), work.corpus_key)
    corpus_path.unlink()
    run_dir = scratch / "run"
    if work.resume_key and work.resume_epoch is not None:
        try:
            store.get_dir(work.resume_key, epoch_dir(run_dir, work.resume_epoch))
        except NotFound:
            raise JobError(f"cannot resume: the checkpoint of epoch {work.resume_epoch} is missing") from None
    with LiveLoss(work.job_id, heartbeat.worker, get_settings().live_loss_interval, lease=work.lease) as live:
        callbacks = JobCallbacks(work.job_id, store, heartbeat, live=live)
        result = train(
            text,
            work.hyperparameters,
            run_dir,
            callbacks=callbacks,
            resume=bool(work.resume_key),
            allowed_changes=FORKABLE,  # a forked job's first start: its parent's checkpoint, changed
            patience_from=work.parent_epoch or 0,
        )
    if result.stopped != "callback":
        return WorkStatus.succeeded
    heartbeat.beat()  # read the flags now: a cancel wins over a shutdown
    if heartbeat.lost:
        raise lifecycle.JobLost(f"job {work.job_id} was given to another worker")
    return WorkStatus.cancelled if heartbeat.cancelled else None
