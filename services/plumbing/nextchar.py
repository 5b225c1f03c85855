"""The temperature chart's numbers in the web process: the model's next-character distribution
after a prompt (shared.engine.inference.temperature), from a light model of the checkpoint (float32 numpy
weights read without Keras or TensorFlow: shared.engine.inference.light), kept in a small LRU cache per app.

Why here and not on the sampling queue: the chart redraws as the user types, so an answer must
come back in one request; one prompt is a few hundred numpy steps (milliseconds for the models
the limit admits), and a light model is read in a fraction of a second from its checkpoint, once
per process while it stays cached (MODEL_CACHE_SIZE models). TensorFlow is never imported by the
web process. The work runs on the API's own threads, so it is bounded (`NextCharGate`):

- a model larger than NEXT_CHAR_MAX_PARAMETERS (the quota's size rule, quotas.model_parameters)
  answers 422 before anything is downloaded: its text comes from a sampling job;
- a user computes at most NEXT_CHAR_PER_USER charts at once (429, in the quotas' error shape);
- at most NEXT_CHAR_THREADS of the SERVE_THREADS threads compute charts at once, loads included
  (503 with Retry-After past that), so the other threads stay free for everything else;
- one load per checkpoint at a time: concurrent requests for one key wait for the first one's
  download and parse instead of each doing it again;
- one BLAS thread (OpenBLAS's, set once when the gate is made): the chart's matrix products are
  the web process's only ones, and BLAS worker threads spinning next to the request threads on a
  loaded machine made one chart 10x slower and took the cores from every other request.

The gate and the cache belong to the app (`app.extensions`), not the module: a checkpoint key
names one model within one deployment's storage only."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app, g

from shared.actions import ActionError
from shared.actions.checkpoints import checkpoint_files
from shared.db.models import Job
from shared.engine.config import Hyperparameters
from shared.engine.data.corpus import CorpusError
from shared.engine.inference.sample import Sampler
from shared.lifecycle.quotas import Overage, QuotaExceeded, model_parameters
from shared.storage import NotFound

from .context import get_store, settings
from .errors import ApiError, as_api_error, field_error

BUSY_RETRY_AFTER = "1"  # seconds: a chart is computed in well under that


class NextCharGate:
    """One app's next-character bounds: its model cache, the per-key load locks, the global slots
    and each user's running requests."""

    def __init__(self, threads: int, per_user: int, cache_size: int):
        self.threads, self.per_user, self.cache_size = threads, per_user, max(1, cache_size)
        self.models: OrderedDict[str, Sampler] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(threads)
        self._running: Counter[int] = Counter()
        self._loading: dict[str, list] = {}  # key -> [lock, requests using it]

    @contextmanager
    def slot(self, user_id: int) -> Iterator[None]:
        """Hold one of the user's places and one of the global slots while computing, or refuse
        at once: 429 past the user's limit, 503 (Retry-After) when every slot is busy."""
        with self._lock:
            active = self._running[user_id]
            if active >= self.per_user:
                message = f"{active} next-character requests running (the limit is {self.per_user})"
                refused = QuotaExceeded([Overage("next_char_per_user", "user", active, self.per_user, message)])
                raise ApiError(429, refused.message, refused.detail)
            if not self._slots.acquire(blocking=False):
                message = f"all {self.threads} next-character slots are busy (NEXT_CHAR_THREADS); retry shortly"
                raise ApiError(503, message, headers={"Retry-After": BUSY_RETRY_AFTER})
            self._running[user_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[user_id] -= 1
                if not self._running[user_id]:
                    del self._running[user_id]
            self._slots.release()

    def cached(self, key: str) -> Sampler | None:
        with self._lock:
            sampler = self.models.get(key)
            if sampler is not None:
                self.models.move_to_end(key)
            return sampler

    def keep(self, key: str, sampler: Sampler) -> None:
        with self._lock:
            self.models[key] = sampler
            self.models.move_to_end(key)
            while len(self.models) > self.cache_size:
                self.models.popitem(last=False)

    @contextmanager
    def loading(self, key: str) -> Iterator[None]:
        """The key's load lock: one download and parse per checkpoint at a time."""
        with self._lock:
            entry = self._loading.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if not entry[1]:
                    del self._loading[key]


_create_lock = threading.Lock()


def gate() -> NextCharGate:
    found = current_app.extensions.get("next_char_gate")
    if found is None:
        with _create_lock:
            found = current_app.extensions.get("next_char_gate")
            if found is None:
                s = settings()
                found = NextCharGate(s.next_char_threads, s.next_char_per_user, s.model_cache_size)
                _one_blas_thread()
                current_app.extensions["next_char_gate"] = found
    return found


def _one_blas_thread() -> None:
    """One BLAS thread in the web process: a chart's small products gain little from more, and
    the other requests' threads keep the cores (threadpoolctl finds whichever BLAS numpy loaded)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


def check_model_size(hyperparameters: Hyperparameters) -> None:
    """422 when the model is too large to run in the web process (its text: a sampling job)."""
    size, most = model_parameters(hyperparameters), settings().next_char_max_parameters
    if size > most:
        shape = f"{hyperparameters.layers} layers x {hyperparameters.units} units"
        raise ApiError(
            422,
            f"a model of {size:,} parameters ({shape}) is too large for the next-character chart, which runs at"
            f" most {most:,} (NEXT_CHAR_MAX_PARAMETERS); ask a sampling job for its text instead"
            " (POST /api/v1/jobs/{id}/samples)",
        )


def light_sampler(checkpoint_key: str) -> Sampler:
    """The checkpoint's light sampler (cached; downloaded and read on a miss, once at a time)."""
    models = gate()
    sampler = models.cached(checkpoint_key)
    if sampler is not None:
        return sampler
    with models.loading(checkpoint_key):
        sampler = models.cached(checkpoint_key)  # another request loaded it while this one waited
        if sampler is None:
            sampler = _load(checkpoint_key)
            models.keep(checkpoint_key, sampler)
    return sampler


def _load(checkpoint_key: str) -> Sampler:
    from shared.engine.inference.light import load_light_sampler
    from shared.engine.training.checkpoint import CheckpointError

    root = settings().scratch_dir
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="light-", dir=root))
    try:
        get_store().get_dir(checkpoint_key, folder)
        return load_light_sampler(folder)
    except (NotFound, CheckpointError) as exc:
        current_app.logger.warning("light model of %s: %s", checkpoint_key, exc)
        raise ApiError(404, "the checkpoint is missing or unreadable in storage") from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def next_char_data(job: Job, prompt: str, temperatures: list[float], top: int, epoch: int | None = None) -> dict:
    """The chart's numbers for the API's GET /jobs/{id}/next-char and the pages alike: job_id,
    epoch, characters, temperatures, probabilities, prompt_chars."""
    from shared.engine.inference.temperature import next_char_distribution

    if not job.epochs:
        raise ApiError(409, "job has no checkpoint yet")
    check_model_size(job.hyperparameters)
    try:
        row, _keys = checkpoint_files(get_store(), job, epoch)
    except ActionError as exc:
        raise as_api_error(exc) from exc
    with gate().slot(g.user.id):
        sampler = light_sampler(row.checkpoint_key)
        try:
            dist = next_char_distribution(sampler, prompt, temperatures, top=top)
        except CorpusError as exc:
            raise ApiError(422, str(exc), [field_error("prompt", str(exc))]) from exc
    return {"job_id": job.id, "epoch": row.epoch, **dist.to_dict()}
