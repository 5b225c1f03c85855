"""A running job's or sample's heartbeat: a daemon thread that every `interval` seconds writes the
record's heartbeat and latest progress, and reads back whether it was cancelled or lost (given to
another worker after this one was silent too long).

A thread (not the training loop) so that long steps (the first batch's compile, validation, a
checkpoint upload retrying through a storage outage) do not look like a dead worker to the
reconciler. The loop itself only sets `progress` and reads `cancelled`: no database calls.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from shared.db.retry import run_in_session
from shared.lifecycle.work import HEARTBEAT_CANCEL, HEARTBEAT_LOST

log = logging.getLogger(__name__)


class Heartbeat:
    """`write(session, record_id, progress, worker, lease) -> "ok" | "cancel" | "lost"` (a
    shared.lifecycle heartbeat function) runs every `interval` seconds while the `with` block runs.
    `lease` is the attempt's fencing token (the claim's): "lost" once another attempt holds the record."""

    def __init__(
        self,
        write: Callable[[Session, int, float | None, str, str | None], str],
        record_id: int,
        worker: str,
        interval: float,
        db_url: str | None = None,
        lease: str | None = None,
    ):
        self.write, self.record_id, self.worker, self.lease = write, record_id, worker, lease
        self.interval, self.db_url = interval, db_url
        self.progress: float | None = None
        self.cancelled = self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run,), name=f"heartbeat-{record_id}", daemon=True
        )  # the creator's log ids (shared.logs.log_context) go with it

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.interval))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """One heartbeat now, retried through a database outage for up to one interval; past that it
        is logged, never raised (the work goes on, and the next beat tries again)."""
        try:
            verdict = run_in_session(
                lambda s: self.write(s, self.record_id, self.progress, self.worker, self.lease),
                "writing a heartbeat",
                self.db_url,
                seconds=self.interval,
            )
            self.cancelled = self.cancelled or verdict == HEARTBEAT_CANCEL
            self.lost = self.lost or verdict == HEARTBEAT_LOST
        except Exception as exc:  # noqa: BLE001
            log.warning("heartbeat of %s failed: %s", self.record_id, exc)
