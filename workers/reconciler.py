"""The reconciler: finds work that no worker will finish and puts it right, every
RECONCILE_INTERVAL seconds (`python -m workers reconciler`, or `--once` from cron).

- A running job whose heartbeat is older than HEARTBEAT_TIMEOUT lost its worker (killed with its
  message held, or the broker lost the message): it goes back to the queue with a new dispatch
  token, or fails with the reason once it has used MAX_ATTEMPTS starts.
- A running sample or analysis whose heartbeat stopped fails with the reason (asking again makes a
  new one).
- A user with queued jobs (or samples) waiting undispatched and none in the broker gets their
  next one dispatched (fair queues: normally whoever took the previous one off the queue does).
- Objects that no record references (written by an attempt that lost its claim: the fencing rule
  of shared.storage.keys) are deleted once older than ORPHAN_GRACE (shared.lifecycle.objects).
- Queued jobs, samples and analyses dispatched more than REDISPATCH_AFTER seconds ago whose message
  the broker no longer holds lost it (a broker restarted without persistence): they are sent again with
  a new token. On Redis the reconciler reads the messages themselves, waiting or delivered to a
  worker and not yet acknowledged (shared.queue.queued_messages), so a re-sent message that a
  worker already prefetched is not sent a second time; on other brokers only an empty queue counts
  (never reordering a healthy queue). A superseded message still in flight is skipped by the
  worker (its token is old). Messages are matched by task as well as id: sample 7 and analysis 7
  share the sampling queue.

Each change is committed before its message is sent; a send that fails is retried next round.

A database outage silences every worker's heartbeat without any worker being lost: after a round
that could not reach the database, the reconciler judges heartbeats again only once it has had the
database continuously for HEARTBEAT_TIMEOUT (the workers' heartbeats are fresh again by then).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Mapping
from datetime import timedelta

from celery import Celery
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared import lifecycle, logs
from shared.actions import delete as deletion
from shared.db.models import Analysis, Job, Sample, WorkStatus, utcnow
from shared.db.retry import DatabaseUnreachable, is_disconnect, run_in_session
from shared.db.session import session_scope
from shared.lifecycle.work import fail_lost
from shared.queue import (
    SAMPLING_QUEUE,
    TASK_OF_KIND,
    TRAINING_QUEUE,
    MessageKey,
    make_celery,
    queue_depth,
    queued_messages,
    send_message,
)
from shared.settings import Settings, get_settings
from shared.storage import get_store

from .registration import Registration

log = logging.getLogger("workers.reconciler")


def reconcile(
    session: Session,
    settings: Settings,
    queue_sizes: Mapping[str, int | None],
    judge_heartbeats: bool = True,
    messages: Mapping[str, set[MessageKey] | None] | None = None,
) -> list[tuple]:
    """One round in the caller's transaction. Returns the messages to send after commit:
    ("job" | "sample" | "analysis", id, token). queue_sizes[queue] is None when the broker did not
    answer; messages[queue], when the broker can list them (shared.queue.queued_messages), is every
    (task, id, token) it still holds for `queue`: a dispatched record is lost only if its own is
    missing.
    judge_heartbeats False: silent workers are not declared lost this round (the database itself
    was unreachable lately)."""
    now = utcnow()
    sends = _lost_workers(session, settings, now) if judge_heartbeats else []
    lost_before = now - timedelta(seconds=settings.redispatch_after)
    fair: tuple[tuple[str, type[Job] | type[Sample], str], ...] = (
        ("job", Job, TRAINING_QUEUE),
        ("sample", Sample, SAMPLING_QUEUE),
    )
    for kind, fair_table, queue in fair:  # analyses are sent at once: no fair-queue turn
        for owner_id in lifecycle.waiting_owners(session, fair_table):  # fair queues: the backstop
            dispatch = lifecycle.dispatch_next(session, fair_table, owner_id)
            if dispatch is not None:
                log.warning("%s %s: its owner had nothing in the %s queue; dispatched", kind, dispatch.record_id, queue)
                sends.append((kind, dispatch.record_id, dispatch.token))
    for kind, table, status, queue in (
        ("job", Job, WorkStatus.queued, TRAINING_QUEUE),
        ("sample", Sample, WorkStatus.queued, SAMPLING_QUEUE),
        ("analysis", Analysis, WorkStatus.queued, SAMPLING_QUEUE),
    ):
        held = (messages or {}).get(queue)
        if held is None and queue_sizes.get(queue) != 0:
            continue  # the broker cannot list its messages: only an empty queue tells of a lost one
        for record in _locked(session, table, status, table.dispatched_at < lost_before):
            if held is not None and (TASK_OF_KIND[kind], record.id, record.dispatch_token) in held:
                continue  # waiting in the queue, or already taken by a worker: not lost
            token = lifecycle.message_lost(record)
            if token is not None:
                log.warning("%s %s: queued, but its message is not in the %s queue; sent again", kind, record.id, queue)
                sends.append((kind, record.id, token))
    return sends


def _lost_workers(session: Session, settings: Settings, now) -> list[tuple]:
    """Running jobs, samples and analyses whose heartbeat is older than HEARTBEAT_TIMEOUT: jobs
    requeued (or failed once out of attempts), samples and analyses failed. Returns the job
    messages to send."""
    silent = now - timedelta(seconds=settings.heartbeat_timeout)
    sends: list[tuple] = []
    for job in _locked(session, Job, WorkStatus.running, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < silent)):
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
                WorkStatus(job.status).value,
                f": {job.error}" if job.error else "",
            )
    for table in (Sample, Analysis):  # the same rule for both: a lost worker fails the record
        for record in _locked(
            session, table, WorkStatus.running, or_(table.heartbeat_at.is_(None), table.heartbeat_at < silent)
        ):
            fail_lost(record)
            log.warning("%s %s: worker %s lost; failed", table.__name__.lower(), record.id, record.worker)
    return sends


def _locked(session: Session, table, status, *conditions) -> list:
    """Rows of `table` in `status` matching conditions, locked (skipping rows a worker holds), in id
    order. Sorted here, not in SQL: with ORDER BY id PostgreSQL may walk the whole primary key to
    find the few matching rows in order (21.8 ms at 100,000 jobs, for none), where the status
    index finds them at once (3.1 ms); SKIP LOCKED never waits, so the order of locking does not matter."""
    stmt = select(table).where(table.status == status, *conditions)
    return sorted(session.scalars(stmt.with_for_update(skip_locked=True)), key=lambda row: row.id)


def run_once(settings: Settings, celery: Celery, judge_heartbeats: bool = True) -> list[tuple]:
    """One round: read the queue depths, reconcile (retried through a database outage of up to
    RECONCILE_INTERVAL), send after commit. Raises DatabaseUnreachable past that."""
    sizes: dict[str, int | None] = {}
    messages: dict[str, set[MessageKey] | None] = {}
    for queue in (TRAINING_QUEUE, SAMPLING_QUEUE):
        try:
            sizes[queue] = queue_depth(celery, queue)
            messages[queue] = queued_messages(celery, queue)
        except Exception as exc:  # noqa: BLE001  broker down: lost messages are looked for next round
            log.warning("could not read the %s queue: %s", queue, exc)
            sizes[queue], messages[queue] = None, None
    sends = run_in_session(
        lambda session: reconcile(session, settings, sizes, judge_heartbeats, messages),
        "reconciling",
        seconds=settings.reconcile_interval,
    )
    for kind, record_id, token in sends:
        try:
            send_message(celery, kind, record_id, token)
        except Exception as exc:  # noqa: BLE001  still queued: sent again once its queue is empty
            log.warning("%s %s: could not send its message (%s); next round", kind, record_id, exc)
    _finish_deletions(settings)
    _sweep_orphans(settings)
    return sends


_last_sweep = [float("-inf")]  # monotonic time of the last sweep in this process


def _sweep_orphans(settings: Settings, clock=time.monotonic) -> None:
    """Objects written by attempts that lost their claim: deleted once older than ORPHAN_GRACE
    (at most every tenth of it, since a sweep lists the attempts' folders)."""
    if clock() - _last_sweep[0] < settings.orphan_grace / 10:
        return
    _last_sweep[0] = clock()
    url = settings.resolved_database_url
    try:
        swept = deletion.sweep_orphans(lambda: session_scope(url), get_store(settings), settings.orphan_grace)
    except Exception as exc:  # noqa: BLE001  next round
        log.warning("could not sweep unreferenced objects (%s); next round", exc)
        return
    if swept:
        log.info("deleted %d object(s) no record references: %s", len(swept), ", ".join(swept[:20]))


def _finish_deletions(settings: Settings) -> None:
    """Deletes left marked (a crash mid-delete, a job that stopped since): finished here."""
    url = settings.resolved_database_url
    try:
        done = deletion.finish_deletions(lambda: session_scope(url), get_store(settings))
    except Exception as exc:  # noqa: BLE001  next round
        log.warning("could not finish the pending deletes (%s); next round", exc)
        return
    if done:
        log.info("finished deleting %s", ", ".join(done))


class DatabaseWatch:
    """Whether the reconciler has had the database long enough to judge heartbeats: not until it
    has reached it continuously for `grace` seconds (HEARTBEAT_TIMEOUT), from its start and after
    each round that could not reach it (every worker was silent then, none of them lost)."""

    def __init__(self, grace: float, clock=time.monotonic):
        self.grace, self.clock = grace, clock
        self.since: float | None = clock()

    def trusted(self) -> bool:
        return self.since is not None and self.clock() - self.since >= self.grace

    def lost(self) -> None:
        self.since = None

    def reached(self) -> None:
        if self.since is None:
            self.since = self.clock()


def run_forever(settings: Settings, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    celery = make_celery(settings)
    log.info(
        "reconciler: every %g s (heartbeat timeout %g s, max attempts %d)",
        settings.reconcile_interval,
        settings.heartbeat_timeout,
        settings.max_attempts,
    )
    watch = DatabaseWatch(settings.heartbeat_timeout)
    while not stop.is_set():
        try:
            run_once(settings, celery, judge_heartbeats=watch.trusted())
        except Exception as exc:
            if isinstance(exc, DatabaseUnreachable) or is_disconnect(exc):
                watch.lost()
                log.warning("reconciler round: %s; heartbeats get %g s of grace once it is back", exc, watch.grace)
            else:
                log.exception("reconciler round failed")
        else:
            watch.reached()
        stop.wait(settings.reconcile_interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers reconciler", description=__doc__.split("\n")[0])
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--loglevel", "-l", default="INFO")
    args = parser.parse_args(argv)
    settings = get_settings()
    logs.configure("reconciler", settings, args.loglevel)
    if args.once:
        run_once(settings, make_celery(settings))
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with Registration(role="reconciler"):  # the fleet's registry shows it alive or lost
        run_forever(settings, stop=stop)
