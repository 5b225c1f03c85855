"""Graceful stop of a worker: SIGTERM makes the running job stop at its next batch (a running
sample at its next chunk), hand itself back to the queue and let the worker exit.

Celery's main process answers SIGTERM with a warm shutdown (it waits for the running task); we
forward the signal to the pool processes that run a task, whose handler sets a flag that the
job's should_stop() reads. A SIGTERM sent to the whole process group lands on the same handler.
The handler is installed when a task starts (billiard resets the pool process's signals after its
initializer), so an idle pool process is not signalled: it has no handler, SIGTERM would kill it
and Celery would log that death as an error; the warm shutdown ends it in order instead.
With `-P solo` the task runs in the main process and the flag is set there directly.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from celery import signals

log = logging.getLogger(__name__)

_requested = threading.Event()
STOPPING = "worker stopping"  # the reason of the Reject that returns a message to the queue


class HandBackWithoutTraceback(logging.Filter):
    """Celery logs a task's Reject as a warning with its traceback. A message returned to the queue
    because this worker is stopping is no fault: one INFO line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from celery.exceptions import Reject

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, Reject) and exc.reason == STOPPING:
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def requested() -> bool:
    """True once this process was asked to stop."""
    return _requested.is_set()


def request() -> None:
    _requested.set()


def _on_sigterm(signum, frame) -> None:
    _requested.set()


def install_handler() -> None:
    """In a pool process: make SIGTERM request a stop instead of ending the process. Never in the
    main process, whose SIGTERM handler is Celery's warm shutdown."""
    from billiard.process import current_process

    if current_process().name != "MainProcess" and signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        signal.signal(signal.SIGTERM, _on_sigterm)


def connect() -> None:
    """Forward a warm shutdown to the pool processes, and log a hand-back without a traceback
    (connected once by the worker app; pool processes inherit the filter when they fork)."""
    signals.worker_shutting_down.connect(_forward_to_pool, weak=False, dispatch_uid="charlstm-forward-to-pool")
    trace_log = logging.getLogger("celery.app.trace")
    if not any(isinstance(f, HandBackWithoutTraceback) for f in trace_log.filters):
        trace_log.addFilter(HandBackWithoutTraceback())


def _forward_to_pool(sig=None, how=None, **_) -> None:
    if how != "Warm":
        return
    _requested.set()
    for pid in _pool_processes_with_a_task():
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, TypeError):
            pass
        else:
            log.info("asked pool process %s to hand its job back", pid)


def _pool_processes_with_a_task() -> set[int]:
    """The pool processes running a task. A task accepted but not yet placed in a process (its pid
    unknown) makes it every pool process, as a stop must not miss the job that is starting."""
    from billiard.process import active_children
    from celery.worker import state

    pids = [request.worker_pid for request in list(state.active_requests)]
    if any(pid is None for pid in pids):
        return {child.pid for child in active_children() if child.pid is not None}
    return {pid for pid in pids if pid != os.getpid()}
