"""Graceful stop of a worker: SIGTERM makes the running job stop at its next batch (a running
sample at its next chunk), hand itself back to the queue and let the worker exit.

Celery's main process answers SIGTERM with a warm shutdown (it waits for the running task); we
forward the signal to the pool processes, whose handler sets a flag that the job's should_stop()
reads. A SIGTERM sent to the whole process group lands on the same handler. The handler is
installed when a task starts (billiard resets the pool process's signals after its initializer).
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
    """Forward a warm shutdown to the pool processes (connected once by the worker app)."""
    signals.worker_shutting_down.connect(_forward_to_pool, weak=False, dispatch_uid="charlstm-forward-to-pool")


def _forward_to_pool(sig=None, how=None, **_) -> None:
    if how != "Warm":
        return
    _requested.set()
    from billiard.process import active_children

    for child in active_children():
        try:
            os.kill(child.pid, signal.SIGTERM)
        except (ProcessLookupError, TypeError):
            pass
        else:
            log.info("asked pool process %s to hand its job back", child.pid)
