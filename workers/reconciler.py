"""The reconciler: finds work that no worker will finish and puts it right, every
RECONCILE_INTERVAL seconds (`python -m workers reconciler`, or `--once` from cron).

- A running job whose heartbeat is older than HEARTBEAT_TIMEOUT lost its worker (killed with its
  message held, or the broker lost the message): it goes back to the queue with a new dispatch
  token, or fails with the reason once it has used MAX_ATTEMPTS starts.
- A running sample whose heartbeat stopped fails with the reason (asking again makes a new one).
- Queued jobs and samples whose queue is empty and that were dispatched more than
  REDISPATCH_AFTER seconds ago lost their message (a broker restarted without persistence): they
  are sent again with a new token. Checking only an empty queue never reorders a healthy queue;
  a superseded message still in flight is skipped by the worker (its token is old).

Each change is committed before its message is sent; a send that fails is retried next round.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import timedelta

from celery import Celery
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared import lifecycle
from shared.db.models import Job, JobStatus, Sample, SampleStatus, utcnow
from shared.db.session import session_scope
from shared.queue import SAMPLING_QUEUE, TRAINING_QUEUE, make_celery, queue_depth, send_sampling, send_training
from shared.settings import Settings, get_settings

log = logging.getLogger("workers.reconciler")


def reconcile(session: Session, settings: Settings, queue_sizes: dict[str, int | None]) -> list[tuple]:
    """One round in the caller's transaction. Returns the messages to send after commit:
    ("job" | "sample", id, token). queue_sizes[queue] is None when the broker did not answer."""
    now = utcnow()
    silent = now - timedelta(seconds=settings.heartbeat_timeout)
    sends: list[tuple] = []
    for job in _locked(session, Job, JobStatus.running, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < silent)):
        worker = job.worker
        token = lifecycle.worker_lost(job, settings.heartbeat_timeout, settings.max_attempts)
        if token is not None:
            log.warning("job %s: worker %s silent for over %g s; requeued", job.id, worker, settings.heartbeat_timeout)
            sends.append(("job", job.id, token))
        else:
            log.warning(
                "job %s: worker %s lost; %s%s",
                job.id,
                worker,
                JobStatus(job.status).value,
                f": {job.error}" if job.error else "",
            )
    for sample in _locked(
        session, Sample, SampleStatus.running, or_(Sample.heartbeat_at.is_(None), Sample.heartbeat_at < silent)
    ):
        lifecycle.fail_lost_sample(sample)
        log.warning("sample %s: worker %s lost; failed", sample.id, sample.worker)
    lost_before = now - timedelta(seconds=settings.redispatch_after)
    for kind, table, status, queue in (
        ("job", Job, JobStatus.queued, TRAINING_QUEUE),
        ("sample", Sample, SampleStatus.queued, SAMPLING_QUEUE),
    ):
        if queue_sizes.get(queue) != 0:
            continue
        for record in _locked(
            session, table, status, or_(table.dispatched_at.is_(None), table.dispatched_at < lost_before)
        ):
            token = lifecycle.message_lost(record)
            if token is not None:
                log.warning("%s %s: queued, but the %s queue is empty; sent again", kind, record.id, queue)
                sends.append((kind, record.id, token))
    return sends


def _locked(session: Session, table, status, *conditions) -> list:
    """Rows of `table` in `status` matching conditions, locked (skipping rows a worker holds)."""
    stmt = select(table).where(table.status == status, *conditions).order_by(table.id)
    return list(session.scalars(stmt.with_for_update(skip_locked=True)))


def run_once(settings: Settings, celery: Celery) -> list[tuple]:
    sizes: dict[str, int | None] = {}
    for queue in (TRAINING_QUEUE, SAMPLING_QUEUE):
        try:
            sizes[queue] = queue_depth(celery, queue)
        except Exception as exc:  # noqa: BLE001  broker down: lost messages are looked for next round
            log.warning("could not read the %s queue: %s", queue, exc)
            sizes[queue] = None
    with session_scope() as session:
        sends = reconcile(session, settings, sizes)
    for kind, record_id, token in sends:
        try:
            (send_training if kind == "job" else send_sampling)(celery, record_id, token)
        except Exception as exc:  # noqa: BLE001  still queued: sent again once its queue is empty
            log.warning("%s %s: could not send its message (%s); next round", kind, record_id, exc)
    return sends


def run_forever(settings: Settings, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    celery = make_celery(settings)
    log.info(
        "reconciler: every %g s (heartbeat timeout %g s, max attempts %d)",
        settings.reconcile_interval,
        settings.heartbeat_timeout,
        settings.max_attempts,
    )
    while not stop.is_set():
        try:
            run_once(settings, celery)
        except Exception:
            log.exception("reconciler round failed")
        stop.wait(settings.reconcile_interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers reconciler", description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--loglevel", "-l", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.loglevel.upper(), format="[%(asctime)s: %(levelname)s/reconciler] %(message)s")
    settings = get_settings()
    if args.once:
        run_once(settings, make_celery(settings))
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_forever(settings, stop=stop)
