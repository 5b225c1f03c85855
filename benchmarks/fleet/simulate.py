"""The fleet at work: WORKERS simulated training workers (threads) run queued jobs through the real
lifecycle functions, as workers/training.py calls them (claim, the owner's next fair dispatch,
heartbeats, an epoch recorded every few heartbeats, finish), while the reconciler
(workers/reconciler.py run_once) runs its rounds. The broker is a queue in this process: dispatched
jobs (id, token) go in, workers take them off.

Every figure is measured around the call a real process makes (run_in_session: a committed
transaction), with the SQL statements it sent counted by a SQLAlchemy `before_cursor_execute`
listener, per thread."""

from __future__ import annotations

import os
import queue
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, event, make_url

from shared import lifecycle
from shared.db.models import Job, WorkStatus
from shared.db.retry import run_in_session
from shared.engine.training.train import EpochReport
from shared.settings import Settings
from shared.storage.keys import checkpoint_key

from ..load import percentile

T = TypeVar("T")
HEARTBEAT_OK = "ok"


class Statements:
    """SQL statements sent by the current thread (a `before_cursor_execute` listener on every engine)."""

    _local = threading.local()
    _installed = False

    @classmethod
    def install(cls) -> None:
        if not cls._installed:
            event.listen(Engine, "before_cursor_execute", cls._count)
            cls._installed = True

    @classmethod
    def _count(cls, *_args: Any) -> None:
        cls._local.n = getattr(cls._local, "n", 0) + 1

    @classmethod
    def now(cls) -> int:
        return getattr(cls._local, "n", 0)


def measured(fn: Callable[[], T], into: list[tuple[float, int]]) -> T:
    """fn(), its seconds and SQL statements appended to `into`."""
    Statements.install()
    before, began = Statements.now(), time.perf_counter()
    result = fn()
    into.append((time.perf_counter() - began, Statements.now() - before))
    return result


@dataclass(frozen=True)
class Pace:
    """The fleet's rates: a heartbeat every `heartbeat` s (a real worker's: HEARTBEAT_INTERVAL's default),
    an epoch every `beats` heartbeats (10 s: shorter than a real epoch, so that jobs end and claims
    happen within the run), `epochs` epochs a job, a reconciler round every `reconcile` s (shorter
    than RECONCILE_INTERVAL's 30 s, so that a run sees many rounds). FLEET_HEARTBEAT sets another
    heartbeat interval: 0.5 makes 50 workers beat as often as 500 would."""

    heartbeat: float = Settings.model_fields["heartbeat_interval"].default
    beats: int = 2
    epochs: int = 3
    reconcile: float = 2.0

    @classmethod
    def from_env(cls) -> Pace:
        return cls(heartbeat=float(os.environ.get("FLEET_HEARTBEAT", cls.heartbeat)))


@dataclass
class Stats:
    claims: list[tuple[float, int]] = field(default_factory=list)
    dispatches: list[tuple[float, int]] = field(default_factory=list)
    heartbeats: list[tuple[float, int]] = field(default_factory=list)
    epochs: list[tuple[float, int]] = field(default_factory=list)
    finishes: list[tuple[float, int]] = field(default_factory=list)
    rounds: list[tuple[float, int]] = field(default_factory=list)  # the reconciler's, the first one sweeps


def call(into: list[tuple[float, int]], url: str, fn: Callable[..., T], *args: Any) -> T:
    """fn(session, *args) in a committed transaction (run_in_session, as workers call the
    lifecycle), measured into `into`."""
    return measured(lambda: run_in_session(lambda s: fn(s, *args), fn.__name__, url), into)


def claim_and_dispatch(
    url: str, worker: str, job_id: int, token: str, stats: Stats, broker: queue.Queue | None = None
) -> lifecycle.TrainingWork | None:
    """A worker takes job `job_id`'s message: claims it, then dispatches its owner's next job
    (workers/fair.py: the next one goes to `broker`)."""
    claim = call(stats.claims, url, lifecycle.claim_job, job_id, worker, token)
    dispatch = call(stats.dispatches, url, lifecycle.dispatch_after, Job, job_id)
    if dispatch is not None and broker is not None:
        broker.put((dispatch.record_id, dispatch.token))
    return claim if isinstance(claim, lifecycle.TrainingWork) else None


def train(url: str, worker: str, work: lifecycle.TrainingWork, pace: Pace, stats: Stats, stop: threading.Event) -> None:
    """Heartbeats, an epoch every `pace.beats` of them, then finish; stops (leaving it running)
    when the run ends."""
    lease, job_id = work.lease, work.job_id
    for epoch in range(1, pace.epochs + 1):
        for beat in range(pace.beats):
            if stop.wait(pace.heartbeat):
                return
            progress = (beat + 1) / pace.beats
            if call(stats.heartbeats, url, lifecycle.job_heartbeat, job_id, progress, worker, lease) != HEARTBEAT_OK:
                return
        report = EpochReport(epoch=epoch, loss=1.5, val_loss=1.6, seconds=60.0, chars_per_second=50_000.0)
        key = checkpoint_key(job_id, epoch, lease)
        call(stats.epochs, url, lifecycle.record_epoch, job_id, report, key, worker, 5_000_000, lease)
    call(stats.finishes, url, lifecycle.finish_job, job_id, WorkStatus.succeeded, None, worker, lease)


def own_connections(url: str, name: str) -> str:
    """The database URL under a name of this worker's own: its engine, and so its connections, are
    its own (as a worker process's are), not a pool shared by every simulated worker."""
    return make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def worker_loop(url: str, name: str, broker: queue.Queue, pace: Pace, stats: Stats, stop: threading.Event) -> None:
    url = own_connections(url, name)
    stop.wait(random.random() * pace.heartbeat)  # the fleet did not start in one instant
    while not stop.is_set():
        try:
            job_id, token = broker.get(timeout=0.2)
        except queue.Empty:
            continue
        work = claim_and_dispatch(url, name, job_id, token, stats, broker)
        if work is not None:
            train(url, name, work, pace, stats, stop)


def reconciler_loop(pace: Pace, stats: Stats, stop: threading.Event, ready: Any = None) -> None:
    from shared.queue import make_celery
    from shared.settings import get_settings
    from workers.reconciler import run_once

    settings = get_settings()
    celery = make_celery(settings)
    while not stop.is_set():
        began = time.perf_counter()
        measured(lambda: run_once(settings, celery), stats.rounds)
        if ready is not None:
            ready.set()  # the first round (the one that sweeps unreferenced objects) is over
        stop.wait(max(0.0, pace.reconcile - (time.perf_counter() - began)))


def run_fleet(env: dict[str, str], url: str, dispatched: list[tuple[int, str]], workers: int, pace: Pace,
              stop: Any, results: Any, ready: Any = None) -> None:  # fmt: skip
    """A process of its own (spawned): the workers and the reconciler until `stop` (a
    multiprocessing Event) is set, then their figures (`summary`) put on `results`; `ready` (an
    Event) is set once the reconciler's first round is over."""
    os.environ.update(env)
    from shared.settings import get_settings

    get_settings.cache_clear()
    broker: queue.Queue = queue.Queue()
    for message in dispatched:
        broker.put(message)
    stats, halt = Stats(), threading.Event()
    threads = [threading.Thread(target=worker_loop, args=(url, f"fleet-{n}@sim", broker, pace, stats, halt))
               for n in range(workers)]  # fmt: skip
    threads.append(threading.Thread(target=reconciler_loop, args=(pace, stats, halt, ready)))
    for thread in threads:
        thread.start()
    stop.wait()
    halt.set()
    for thread in threads:
        thread.join()
    results.put(summary(stats))


def _ms(values: list[float], p: float) -> float:
    return 1000 * percentile(values, p)


def figures(samples: list[tuple[float, int]]) -> dict:
    seconds, statements = [s for s, _ in samples], [n for _, n in samples]
    return {
        "count": len(samples),
        "p50_ms": _ms(seconds, 50),
        "p99_ms": _ms(seconds, 99),
        "max_ms": _ms(seconds, 100),
        "statements_min": min(statements, default=0),
        "statements_max": max(statements, default=0),
        "statements_mean": statistics.fmean(statements) if statements else float("nan"),
    }


def summary(stats: Stats) -> dict:
    """The figures of a run: per kind of call, and the reconciler's rounds (the first one, which
    also sweeps unreferenced objects, apart from the others)."""
    out = {kind: figures(getattr(stats, kind)) for kind in ("claims", "dispatches", "heartbeats", "epochs", "finishes")}
    out["sweep_round"] = figures(stats.rounds[:1])
    out["rounds"] = figures(stats.rounds[1:])
    return out
