"""The sampling task: get the model (through the worker's LRU cache of fused numpy weights, shared
by its threads), generate at the request's precision (int8 or float32) and options (a stateful
model's requests share one stepping batch per checkpoint and precision, workers/batching.py, and
each text is published as it is written, workers/text_stream.py), store one text
as `samples/{id}.txt` or several as one zip `samples/{id}.zip`, and record every text's quality and
novelty figures with the sample (the novelty index of the job's corpus comes from
workers/corpus_index.py). A heartbeat thread reports progress. Every state change goes through
shared.lifecycle.

TensorFlow/Keras are imported inside the task only (to read a checkpoint's weights once).
"""

from __future__ import annotations

import functools
import logging
import shutil
import socket
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from celery import Celery

from shared import lifecycle
from shared.db.models import Sample
from shared.db.retry import run_in_session
from shared.logs import log_context
from shared.queue import send_sampling
from shared.settings import get_settings
from shared.storage import NotFound, ObjectStore, get_store
from shared.storage.keys import sample_key

from . import fair, shutdown
from .batching import run_streams
from .corpus_index import corpus_reference
from .errors import JobError, describe_error
from .heartbeat import Heartbeat
from .model_cache import ModelCache
from .text_stream import TextPublisher

log = logging.getLogger(__name__)

_cache: ModelCache | None = None
_cache_lock = threading.Lock()
_keras_lock = threading.Lock()  # Keras reads one checkpoint at a time; downloads run in parallel


def sample_task(self, sample_id: int, token: str | None = None) -> str:
    """The Celery task (registered by workers/app.py)."""
    shutdown.install_handler()
    with log_context(sample=sample_id):
        return run_sampling(sample_id, token, worker=self.request.hostname or socket.gethostname(), celery=self.app)


def load_from_store(key: str, store: ObjectStore | None = None):
    """Download a checkpoint folder into scratch space and load its sampling model (the files are
    removed after: the model keeps only its fused numpy weights)."""
    from shared.engine.inference.sample import PRECISIONS, load_sampler

    store = store or get_store()
    root = get_settings().scratch_dir
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="model-", dir=root))
    try:
        try:
            store.get_dir(key, folder)
        except NotFound:
            raise JobError(f"the checkpoint {key} is missing from object storage") from None
        with _keras_lock:
            return load_sampler(folder, precisions=PRECISIONS)  # float32 and the int8 fast path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def model_cache() -> ModelCache:
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = ModelCache(get_settings().model_cache_size, load_from_store)
        return _cache


def store_texts(store: ObjectStore, sample_id: int, texts: list[str], names: list[str], lease: str) -> tuple[str, int]:
    """Upload the result under the attempt's `lease` (retried through a storage outage): its key and
    its size in bytes (what its owner's storage quota counts)."""
    key = sample_key(sample_id, len(texts), lease)
    if len(texts) == 1:
        data = texts[0].encode("utf-8")
        store.retrying(lambda: store.put_bytes(key, data), f"upload {key}")
        return key, len(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "samples.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in zip(names, texts, strict=True):
                archive.writestr(name, text)
        store.retrying(lambda: store.put_file(key, path), f"upload {key}")
        return key, path.stat().st_size


class Stop:
    """should_stop for sample_texts: the sample was cancelled or found lost, or the worker is
    stopping. Remembers that it stopped the generation (the texts are then short and are not stored)."""

    def __init__(self, heartbeat: Heartbeat):
        self.heartbeat, self.stopped = heartbeat, False

    def __call__(self) -> bool:
        beat = self.heartbeat
        self.stopped = self.stopped or beat.cancelled or beat.lost or shutdown.requested()
        return self.stopped


def run_sampling(
    sample_id: int,
    token: str | None = None,
    worker: str = "",
    store: ObjectStore | None = None,
    celery: Celery | None = None,
) -> str:
    """Generate and store one sample: "succeeded", "failed", "cancelled", "requeued" (handed back
    by a stopping worker; `celery` sends it again) or "skipped"."""
    worker = worker or socket.gethostname()
    work = run_in_session(lambda s: lifecycle.claim_sample(s, sample_id, worker, token), "claiming the sample")
    fair.send_next(celery, Sample, sample_id)  # its message left the broker: the owner's next sample's turn
    if work is None:
        log.info("sample %s: nothing to do", sample_id)
        return "skipped"
    try:
        interval = get_settings().heartbeat_interval
        with Heartbeat(lifecycle.sample_heartbeat, sample_id, worker, interval, lease=work.lease) as heartbeat:
            store = store or get_store()
            sampler = model_cache().get(work.checkpoint_key)
            from shared.engine.inference.sample import sample_names

            stop = Stop(heartbeat)
            texts = generate_texts(work, sampler, heartbeat, stop)
            if stop.stopped:
                return _stopped(sample_id, worker, work.lease, heartbeat, celery)
            names = sample_names(work.temperatures, work.count)
            key, size = store_texts(store, sample_id, texts, names, work.lease)
            quality, novelty = safe_figures(work, sampler, texts, names)
    except Exception as exc:
        error, expected = describe_error(exc), isinstance(exc, (JobError, ValueError))
        log.log(
            logging.INFO if expected else logging.ERROR, "sample %s failed: %s", sample_id, error, exc_info=not expected
        )
        failure = functools.partial(lifecycle.finish_sample, sample_id=sample_id, error=error, lease=work.lease)
        return "failed" if run_in_session(failure, "recording the failure") else _lost(sample_id)
    finish = functools.partial(
        lifecycle.finish_sample,
        sample_id=sample_id,
        object_key=key,
        stored_bytes=size,
        quality=quality,
        novelty=novelty,
        lease=work.lease,
    )
    if not run_in_session(finish, "finishing the sample"):
        return _lost(sample_id)
    log.info("sample %s: stored %s", sample_id, key)
    return "succeeded"


def generate_texts(work: lifecycle.SamplingWork, sampler, heartbeat: Heartbeat, stop: Stop) -> list[str]:
    """The request's texts. A stateful model's streams share the worker's batch for the checkpoint
    and precision (workers/batching.py), and each text is published as it is written; a windowed
    model is sampled alone. Short texts when `stop` stopped it."""
    from shared.engine.inference.sample import sample_texts

    if not sampler.net.stateful:
        return sample_texts(
            sampler, work.length, work.temperatures, count=work.count, seed_text=work.seed_text,
            random_seed=work.random_seed, should_stop=stop, top_k=work.top_k, top_p=work.top_p,
            progress=lambda done, total: setattr(heartbeat, "progress", done / max(1, total)),
            precision=work.precision,
        )  # fmt: skip
    from shared.engine.inference.streams import request_streams

    seed = sampler.seed_ids(work.seed_text)
    specs = request_streams(
        sampler.net_for(work.precision), seed, work.length, work.temperatures, work.count, work.random_seed,
        work.top_k, work.top_p,
    )  # fmt: skip
    decoders = [sampler.decoder(seed) for _ in specs]
    pieces: list[list[str]] = [[] for _ in specs]
    written, total = [0], max(1, work.length * len(specs))
    with TextPublisher(work.sample_id, work.lease, len(specs)) as publisher:

        def on_piece(row: int, ids) -> None:  # in the batch's thread: no database call here
            piece = decoders[row].feed(ids)
            pieces[row].append(piece)
            publisher.write(row, piece)
            written[0] += len(ids)
            heartbeat.progress = written[0] / total

        began = time.time()
        run_streams(sampler, work.checkpoint_key, work.precision, specs, on_piece, stop)
        ended = time.time()
    log.info(
        "sample %s: generated %d characters from %.3f to %.3f (%.2f s, in its batch)",
        work.sample_id, written[0], began, ended, ended - began,
    )  # fmt: skip
    return ["".join(row) for row in pieces]


def _lost(sample_id: int) -> str:
    """This attempt no longer holds the sample (found lost and failed, or cancelled): it recorded
    nothing; what it stored is unreferenced and the reconciler sweeps it."""
    log.warning("sample %s: no longer held by this attempt (found lost or cancelled); nothing recorded", sample_id)
    return "lost"


def safe_figures(
    work: lifecycle.SamplingWork, sampler, texts: list[str], names: list[str]
) -> tuple[list[dict] | None, list[dict] | None]:
    """`measure_texts`, or (None, None) when measuring fails: the texts are stored, and a sample is
    not failed for its figures."""
    try:
        return measure_texts(work, sampler, texts, names)
    except Exception:
        log.exception("sample %s: its quality and novelty could not be measured", work.sample_id)
        return None, None


def measure_texts(
    work: lifecycle.SamplingWork, sampler, texts: list[str], names: list[str]
) -> tuple[list[dict], list[dict] | None]:
    """Every text's quality (bits/char under the model, the Python measures when the corpus is
    Python-like, character divergence from the corpus) and novelty against the job's corpus, one
    dict per text. Without the corpus's index (its corpus gone from storage, ...) the quality
    figures that need no corpus are still given, and novelty is None."""
    from shared.engine.measures.sample_report import looks_like_python, measure_text

    began = time.perf_counter()
    reference = None
    if work.corpus_key:
        try:
            reference = corpus_reference(work.corpus_key, work.lowercase)
        except Exception as exc:  # noqa: BLE001  the texts are stored; only their novelty is missing
            log.warning("sample %s: no novelty figures, the corpus index failed: %s", work.sample_id, exc)
    if reference is not None:
        python = reference.python
    else:
        python = sampler is not None and looks_like_python(sampler.warmup_text)
    temperatures = [t for t in work.temperatures for _ in range(work.count)]
    quality, novelty = [], []
    for text, name, temperature in zip(texts, names, temperatures, strict=True):
        q, n = measure_text(
            text,
            sampler=sampler,
            python=python,
            corpus_counts=reference.counts if reference is not None else None,
            corpus=reference.profile if reference is not None else None,
            index=reference.index if reference is not None else None,
        )
        quality.append({"name": name, "temperature": temperature, **q})
        if n is not None:
            novelty.append({"name": name, "temperature": temperature, **n})
    log.info("sample %s: quality and novelty in %.2f s", work.sample_id, time.perf_counter() - began)
    return quality, (novelty if reference is not None else None)


def _stopped(sample_id: int, worker: str, lease: str, heartbeat: Heartbeat, celery: Celery | None) -> str:
    """Generation stopped early: the sample was cancelled (nothing stored), or the worker is
    stopping and hands it back to the queue to be generated again from the start."""
    if heartbeat.cancelled:
        log.info("sample %s: cancelled; stopped", sample_id)
        return "cancelled"
    if heartbeat.lost:
        return _lost(sample_id)
    token = run_in_session(lambda s: lifecycle.requeue_sample(s, sample_id, worker, lease), "handing the sample back")
    if token is None:
        return "skipped"
    try:
        if celery is None:
            raise RuntimeError("no Celery app to send with")
        send_sampling(celery, sample_id, token)
    except Exception as exc:  # noqa: BLE001  still queued: the reconciler sends it again
        log.warning("sample %s: requeued, but its message could not be sent (%s); the reconciler will", sample_id, exc)
    log.info("sample %s: handed back to the queue (worker stopping)", sample_id)
    return "requeued"
