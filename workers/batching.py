"""Continuous batching in the sampling worker: the requests for one checkpoint at one precision
share one stepping batch (the engine's `StreamBatch`, shared/engine/inference/streams.py).

`run_streams` joins a request's streams (one per text; each warms up on its seed in the request's
own thread, then enters the batch at its next chunk boundary) and blocks until they are done.
Each batch has one thread that steps it while it has streams (and ends when it has none; the next
join starts another) and hands each chunk's new ids to their request's `on_piece`. A stream keeps
its own temperature, top-k, top-p, length and random generator, so a request's text does not
depend on who shared its batch.

At most SAMPLING_BATCHES batches (distinct checkpoint and precision pairs) run at once in a
worker: a request for another model waits for a free batch, in order of arrival, while requests
for a model that has a batch join it at once. The worker's cores are divided between the running
batches (`lowp.cores_each`). `should_stop` is asked at every chunk boundary: the request's
streams leave and the others go on. A batch thread's exception fails the requests of that batch
only (each gets the error); the next request for the model starts a fresh batch.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (checkpoint key, precision)
OnPiece = Callable[[int, np.ndarray], None]
ShouldStop = Callable[[], bool]
WAIT_POLL = 0.25  # seconds between should_stop checks while a request waits for a batch


class _Request:
    """One caller's streams: their ids so far, and whether it is over (done, stopped or failed)."""

    def __init__(self, specs: Sequence[Any], on_piece: OnPiece, should_stop: ShouldStop):
        self.specs, self.on_piece, self.should_stop = list(specs), on_piece, should_stop
        self.ids: list[list[np.ndarray]] = [[] for _ in self.specs]
        self.streams: list[Any] = []  # the joined ones
        self.left = sum(1 for spec in self.specs if spec.length > 0)  # streams not done yet
        self.error: BaseException | None = None
        self.over = threading.Event()

    def result(self) -> list[np.ndarray]:
        return [np.concatenate(parts) if parts else np.empty(0, dtype=np.intp) for parts in self.ids]


@dataclass(eq=False)
class _Batch:
    key: Key
    batch: Any  # StreamBatch
    users: int = 0  # requests holding it (joining, stepping or about to return)
    owners: dict[int, tuple[_Request, int]] = field(default_factory=dict)  # id(spec) -> (request, row)
    thread: threading.Thread | None = None
    error: BaseException | None = None  # the exception that ended its thread


class Batches:
    """The worker's batches, keyed by (checkpoint key, precision). `limit`: SAMPLING_BATCHES;
    `cores`: the cores to divide between them (default: every core this process may use)."""

    def __init__(self, limit: int, cores: int | None = None):
        self.limit, self.cores = max(1, int(limit)), cores
        self._lock = threading.Condition()
        self._batches: dict[Key, _Batch] = {}
        self._queue: collections.deque[object] = collections.deque()  # requests waiting for a new batch
        self.largest: dict[Key, int] = {}  # the most requests that shared each batch at once (figures)

    # ---- the caller's side ----------------------------------------------------------------------

    def run(
        self,
        sampler,
        checkpoint_key: str,
        precision: str,
        specs: Sequence[Any],
        on_piece: OnPiece,
        should_stop: ShouldStop,
    ) -> list[np.ndarray]:
        """The new ids of every spec (fewer when should_stop() turned true, none when it did before
        the request joined); the batch thread's exception, re-raised, when its batch failed."""
        request = _Request(specs, on_piece, should_stop)
        key = (checkpoint_key, precision)
        entry = self._acquire(key, lambda: sampler.net_for(precision), should_stop)
        if entry is None:
            return request.result()
        try:
            for row, spec in enumerate(request.specs):
                if spec.length <= 0:
                    continue
                if should_stop():
                    self._leave(entry, request)
                    break
                with self._lock:
                    entry.owners[id(spec)] = (request, row)
                stream = entry.batch.join(spec)  # its warm-up, in this thread
                with self._lock:
                    request.streams.append(stream)
                    if entry.error is not None:
                        raise entry.error
                    if request.over.is_set():  # stopped (or failed) while it warmed up
                        entry.batch.leave(stream)
                        break
                    self._start(entry)
            if request.left == 0:
                request.over.set()
            request.over.wait()
            if request.error is not None:
                raise request.error
            return request.result()
        finally:
            self._release(entry, request)

    def _acquire(self, key: Key, template: Callable[[], Any], should_stop: ShouldStop) -> _Batch | None:
        """The batch of `key`, made when there is none (once fewer than `limit` run and the requests
        that waited longer for a new batch have theirs); None when should_stop() turned true first."""
        ticket, waited = object(), False
        with self._lock:
            self._queue.append(ticket)
            try:
                while True:
                    entry = self._batches.get(key)
                    if entry is None and self._queue[0] is ticket and len(self._batches) < self.limit:
                        from shared.engine.inference.streams import StreamBatch

                        entry = self._batches[key] = _Batch(key, StreamBatch(template()))
                        self._divide_cores()
                    if entry is not None:
                        entry.users += 1
                        self.largest[key] = max(self.largest.get(key, 0), entry.users)
                        log.info(
                            "batch %s (%s): %d request(s) share it, %d batch(es) running",
                            key[0], key[1], entry.users, len(self._batches),
                        )  # fmt: skip
                        return entry
                    if should_stop():
                        return None
                    if not waited:
                        waited = True
                        log.info("batch %s (%s): waiting for a free batch (%d running)", *key, len(self._batches))
                    self._lock.wait(WAIT_POLL)
            finally:
                self._queue.remove(ticket)
                self._lock.notify_all()

    def _release(self, entry: _Batch, request: _Request) -> None:
        with self._lock:
            for spec in request.specs:
                entry.owners.pop(id(spec), None)
            entry.users -= 1
            if entry.users == 0 and self._batches.get(entry.key) is entry:
                del self._batches[entry.key]
                self._divide_cores()
            self._lock.notify_all()

    def _leave(self, entry: _Batch, request: _Request) -> None:
        """The request's streams leave the batch at its next chunk boundary; the request is over."""
        with self._lock:
            for stream in request.streams:
                if not stream.done:
                    entry.batch.leave(stream)
            request.over.set()

    # ---- the batch thread -----------------------------------------------------------------------

    def _start(self, entry: _Batch) -> None:
        """Start the batch's thread unless it runs (under the lock)."""
        if entry.thread is None:
            entry.thread = threading.Thread(
                target=self._step_while_active, args=(entry,), name=f"batch-{entry.key[1]}", daemon=True
            )
            entry.thread.start()

    def _step_while_active(self, entry: _Batch) -> None:
        while True:
            with self._lock:
                if entry.batch.active == 0:
                    entry.thread = None
                    return
            try:
                pieces = entry.batch.step()
            except BaseException as exc:
                log.exception("batch %s (%s) failed", *entry.key)
                self._fail(entry, exc)
                return
            self._deliver(entry, pieces)

    def _deliver(self, entry: _Batch, pieces) -> None:
        touched: dict[int, _Request] = {}
        for stream, ids in pieces:
            with self._lock:
                owner = entry.owners.get(id(stream.spec))
            if owner is None:
                continue  # its request was stopped and has returned
            request, row = owner
            touched[id(request)] = request
            if request.over.is_set():
                continue
            request.ids[row].append(np.asarray(ids).copy())
            try:
                request.on_piece(row, ids)
            except Exception as exc:  # noqa: BLE001  this request fails; the others go on
                request.error = exc
                self._leave(entry, request)
                continue
            if stream.done:
                request.left -= 1
                if request.left == 0:
                    request.over.set()
        with self._lock:
            requests = {id(r): r for r, _ in entry.owners.values()}
        for request in {**requests, **touched}.values():
            if request.over.is_set():
                continue
            try:
                stop = request.should_stop()
            except Exception as exc:  # noqa: BLE001  its request fails with it (re-raised there); the others go on
                request.error, stop = exc, True
            if stop:
                self._leave(entry, request)

    def _fail(self, entry: _Batch, exc: BaseException) -> None:
        with self._lock:
            entry.error, entry.thread = exc, None
            if self._batches.get(entry.key) is entry:  # the next request for the model starts afresh
                del self._batches[entry.key]
                self._divide_cores()
            for request, _ in entry.owners.values():
                request.error = request.error or exc
                request.over.set()
            self._lock.notify_all()

    def _divide_cores(self) -> None:
        """Each running batch's kernel threads: the cores divided between them (under the lock)."""
        from shared.engine.inference.lowp import cores_each

        each = cores_each(len(self._batches), self.cores)
        for entry in self._batches.values():
            entry.batch.set_threads(each)

    def figures(self) -> dict:
        """What runs now: {"batches": n, "streams": {key: active streams}}."""
        with self._lock:
            return {
                "batches": len(self._batches),
                "streams": {f"{k[0]} ({k[1]})": e.batch.active for k, e in self._batches.items()},
            }


_batches: Batches | None = None
_batches_lock = threading.Lock()


def batches() -> Batches:
    """The worker process's batches (SAMPLING_BATCHES at once)."""
    global _batches
    with _batches_lock:
        if _batches is None:
            from shared.settings import get_settings

            _batches = Batches(get_settings().sampling_batches)
        return _batches


def run_streams(
    sampler,
    checkpoint_key: str,
    precision: str,
    specs: Sequence[Any],
    on_piece: OnPiece,
    should_stop: ShouldStop,
) -> list[np.ndarray]:
    """Run a request's streams (the engine's StreamSpecs, from `request_streams`) in the worker's
    batch for (checkpoint_key, precision) and block until each is done, or until should_stop()
    turns true at a chunk boundary (its streams leave; the ids so far are returned). on_piece(row,
    ids) is called from the batch thread with each chunk's new ids of row `row`."""
    return batches().run(sampler, checkpoint_key, precision, specs, on_piece, should_stop)
