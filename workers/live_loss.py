"""A running job's live training loss: the training loop hands every batch's running loss to
`LiveLoss.update` (no database call in the loop); a daemon thread writes the latest one through
the lifecycle at most every LIVE_LOSS_INTERVAL seconds, and once more when training ends, so a
job's curve moves within its first epoch. Best effort: a failed write is logged, never raised."""

from __future__ import annotations

import contextvars
import logging
import threading

from shared import lifecycle
from shared.db.retry import run_in_session

log = logging.getLogger(__name__)


class LiveLoss:
    def __init__(self, job_id: int, worker: str, interval: float, db_url: str | None = None, lease: str | None = None):
        self.job_id, self.worker, self.interval, self.db_url = job_id, worker, max(interval, 0.05), db_url
        self.lease = lease
        self._latest: tuple[int, int, int, float] | None = None
        self._written: tuple[int, int, int, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._run,), name=f"live-loss-{job_id}", daemon=True
        )  # the creator's log ids (shared.logs.log_context) go with it

    def update(self, epoch: int, batch: int, batches: int, loss: float) -> None:
        self._latest = (epoch, batch, batches, loss)

    def __enter__(self) -> LiveLoss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.interval))
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        point = self._latest
        if point is None or point == self._written:
            return
        self._written = point
        try:
            run_in_session(
                lambda s: lifecycle.record_batch_loss(s, self.job_id, *point, worker=self.worker, lease=self.lease),
                "recording the live loss",
                self.db_url,
                seconds=self.interval,
            )
        except Exception as exc:  # noqa: BLE001
            log.warning("job %s: live loss not recorded: %s", self.job_id, exc)
