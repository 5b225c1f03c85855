"""Each worker process registers itself in the database's worker registry and heartbeats its row
(shared.lifecycle.registry owns the rules); the admin workers page and `charlstm admin workers`
read it instead of asking the workers through the broker.

A Celery worker: `connect()` (once, from the worker app) hooks its main process. `worker_init`
notes who it is (node name, queues, concurrency) and `worker_ready` starts the heartbeat thread:
after the prefork pool has forked, in the main process only. The thread registers the process,
then beats every HEARTBEAT_INTERVAL; `worker_shutdown` (a clean stop) stops it and marks the row
stopped. A process killed outright stops beating and shows as lost after HEARTBEAT_TIMEOUT.

Another process (the reconciler): `with Registration(role="reconciler"): ...`.

A database outage never stops a worker: each step is retried for one interval, then logged, and
the next beat tries again (registering first if the process is not registered yet, or again if
its row was pruned). The registry has an engine of its own without a pool (a connection per
beat): prefork children, forked while this thread runs, never share a connection with it.
Nothing here imports TensorFlow or Keras (the backend is read from KERAS_BACKEND or Keras's config
file; the devices from /proc), so the pool still forks a process without them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from celery import signals
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from shared.db.retry import with_db_retries
from shared.db.session import resolve_url
from shared.lifecycle import registry
from shared.queue import SAMPLING_QUEUE, TRAINING_QUEUE
from shared.settings import get_settings
from shared.version import package_version

log = logging.getLogger(__name__)

T = TypeVar("T")
CONNECT_TIMEOUT = 5  # seconds to connect to PostgreSQL for one step (a cut-off host must not hang a beat)
STOP_SECONDS = 5.0  # how long a stopping process tries to mark its row stopped
ROLE_OF_QUEUE = {TRAINING_QUEUE: "training", SAMPLING_QUEUE: "sampling"}
KERAS_DEFAULT_BACKEND = "tensorflow"


def role_of(queues: Sequence[str]) -> str:
    """The role of a worker that consumes `queues`: training, sampling (both: training+sampling)."""
    return "+".join(ROLE_OF_QUEUE.get(q, q) for q in sorted(queues)) or "worker"


def keras_backend() -> str:
    """The backend Keras will load, without loading it: KERAS_BACKEND, else the `backend` of
    $KERAS_HOME/keras.json (default ~/.keras), else Keras's default."""
    if backend := os.environ.get("KERAS_BACKEND"):
        return backend
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        return str(json.loads((home / "keras.json").read_text())["backend"])
    except (OSError, ValueError, KeyError, TypeError):
        return KERAS_DEFAULT_BACKEND


def device_words() -> str:
    """What this process computes on, in words, read cheaply (no CUDA initialised): its CPU cores
    and the NVIDIA GPUs the driver lists that CUDA_VISIBLE_DEVICES lets it see."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    words = [f"{cores} CPU core{'s' if cores != 1 else ''}"]
    gpus = _nvidia_gpus()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        gpus = [gpus[int(v)] for v in wanted if v.isdigit() and int(v) < len(gpus)] if wanted != ["-1"] else []
    if gpus:
        models = {m: gpus.count(m) for m in gpus}
        words.append(", ".join(f"{n} x {m}" if n > 1 else m for m, n in models.items()))
    return "; ".join(words)


def _nvidia_gpus() -> list[str]:
    """The models of the GPUs the NVIDIA driver lists, in bus order."""
    folder = Path("/proc/driver/nvidia/gpus")
    models = []
    try:
        for gpu in sorted(folder.iterdir()):
            for line in (gpu / "information").read_text().splitlines():
                if line.startswith("Model:"):
                    models.append(line.split(":", 1)[1].strip())
    except OSError:
        pass
    return models


def identity(
    role: str, name: str | None = None, queues: Sequence[str] = (), concurrency: int | None = None
) -> registry.Identity:
    """This process as it registers: `name` defaults to <role>@<host name>."""
    host = socket.gethostname()
    computes = role != "reconciler"
    return registry.Identity(
        name=name or f"{role}@{host}",
        hostname=host,
        role=role,
        pid=os.getpid(),
        version=package_version(),
        backend=keras_backend() if computes else None,
        devices=device_words() if computes else None,
        queues=tuple(queues),
        concurrency=concurrency,
    )


class Registration:
    """A process's row in the registry while the `with` block (or start()..stop()) runs: registered
    and heartbeating from a daemon thread, marked stopped at the end.

        with Registration(role="reconciler"):
            run_forever(...)
    """

    def __init__(
        self,
        role: str,
        name: str | None = None,
        queues: Sequence[str] = (),
        concurrency: int | None = None,
        interval: float | None = None,
        db_url: str | None = None,
    ):
        self.identity = identity(role, name, queues, concurrency)
        self.interval = interval or get_settings().heartbeat_interval
        self.db_url = db_url
        self.instance: str | None = None
        self.failures = 0
        self._sessions: sessionmaker[Session] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-registration", daemon=True)

    def __enter__(self) -> Registration:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        """Stop beating and mark the row stopped (tried for a few seconds; a failure is logged)."""
        self._stop.set()
        if self._thread.is_alive():  # a beat in progress ends without registering again (beat())
            self._thread.join(timeout=CONNECT_TIMEOUT)
        if self.instance is None:
            return
        try:
            mark = partial(registry.stopped, instance=self.instance)
            self._step(mark, "marking the worker stopped in the registry", STOP_SECONDS)
            log.info("worker %s (%s): marked stopped in the registry", self.identity.name, self.instance)
        except Exception as exc:  # noqa: BLE001 - it shows as lost instead
            log.warning("could not mark worker %s stopped in the registry: %s", self.identity.name, exc)

    def _run(self) -> None:
        self.beat()
        while not self._stop.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """Register (when not yet registered, or the row is gone) or write the heartbeat; a failure
        is logged (the first of a run as a warning), never raised."""
        try:
            instance = self.instance
            if instance is None or not self._step(
                partial(registry.beat, instance=instance), "writing the worker's heartbeat in the registry"
            ):
                if self._stop.is_set():  # stopping: the row was just marked stopped
                    return
                self.instance = self._step(self._register, "registering the worker in the registry")
                log.info("worker %s registered (instance %s)", self.identity.name, self.instance)
        except Exception as exc:  # noqa: BLE001 - the worker goes on; the next beat tries again
            self.failures += 1
            level = logging.WARNING if self.failures == 1 else logging.DEBUG
            log.log(level, "worker registry: %s (failure %d; retrying every %g s)", exc, self.failures, self.interval)
        else:
            if self.failures:
                log.info("worker registry reachable again after %d failed beats", self.failures)
            self.failures = 0

    def _register(self, session: Session) -> str:
        registry.prune(session)  # old stopped and lost rows go as new processes start
        return registry.register(session, self.identity)

    def _step(self, fn: Callable[[Session], T], what: str, seconds: float | None = None) -> T:
        """fn(session) in one transaction on the registry's own engine, retried through a database
        outage for `seconds` (default: one interval)."""

        def attempt() -> T:
            with self._sessionmaker()() as session, session.begin():
                return fn(session)

        return with_db_retries(attempt, what, self.interval if seconds is None else seconds)

    def _sessionmaker(self) -> sessionmaker[Session]:
        if self._sessions is None:
            url = resolve_url(self.db_url)
            args = {"connect_timeout": CONNECT_TIMEOUT} if url.startswith("postgresql") else {}
            self._sessions = sessionmaker(create_engine(url, poolclass=NullPool, connect_args=args))
        return self._sessions


# ---- the Celery worker's hooks -----------------------------------------------------------------

_current: dict[str, Registration] = {}


def connect() -> None:
    """Register every Celery worker this app starts (connected once by the worker app)."""
    signals.worker_init.connect(_on_init, weak=False, dispatch_uid="charlstm-registration-init")
    signals.worker_ready.connect(_on_ready, weak=False, dispatch_uid="charlstm-registration-ready")
    signals.worker_shutdown.connect(_on_shutdown, weak=False, dispatch_uid="charlstm-registration-shutdown")


def _on_init(sender=None, **_) -> None:
    """The worker's main process, before its pool starts: who it is (no thread yet)."""
    try:
        queues = sorted(sender.app.amqp.queues.consume_from or sender.app.amqp.queues)
        concurrency = int(sender.concurrency) if str(sender.concurrency).isdigit() else None
        _current["worker"] = Registration(role_of(queues), sender.hostname, queues, concurrency)
    except Exception:  # never stop a worker from starting
        log.exception("could not describe this worker for the registry")


def _on_ready(sender=None, **_) -> None:
    """The pool has forked and the consumer runs: start heartbeating."""
    registration = _current.get("worker")
    if registration is not None:
        registration.start()


def _on_shutdown(sender=None, **_) -> None:
    registration = _current.pop("worker", None)
    if registration is not None:
        registration.stop()
