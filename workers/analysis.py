"""The neuron analysis task (on the sampling queue): get the model through the sampling workers'
model cache, read the text (the user's, or the tail of the job's corpus), run
`shared.engine.inspection.analysis.analyze` and store the result as JSON at `analyses/{id}.json`. Every state
change goes through shared.lifecycle."""

from __future__ import annotations

import functools
import json
import logging
import socket

from shared import lifecycle
from shared.db.retry import run_in_session
from shared.logs import log_context
from shared.settings import get_settings
from shared.storage import NotFound, ObjectStore, get_store
from shared.storage.keys import analysis_key

from .errors import JobError, describe_error
from .heartbeat import Heartbeat
from .sampling import model_cache

log = logging.getLogger(__name__)

TAIL_BYTES_PER_CHAR = 4  # UTF-8: enough bytes for the characters asked for


def analysis_task(self, analysis_id: int, token: str | None = None) -> str:
    """The Celery task (registered by workers/app.py); `token` is None in messages sent before
    analyses had dispatch tokens."""
    with log_context(analysis=analysis_id):
        return run_analysis(analysis_id, worker=self.request.hostname or socket.gethostname(), token=token)


def corpus_tail(store: ObjectStore, key: str, chars: int) -> str:
    """The last `chars` characters' worth of bytes of a corpus object, streamed (not held whole)."""
    keep = chars * TAIL_BYTES_PER_CHAR
    tail = b""
    try:
        with store.open(key) as stream:
            for chunk in stream:
                tail = (tail + chunk)[-keep:]
    except NotFound:
        raise JobError("the job's corpus is missing from object storage") from None
    return tail.decode("utf-8", errors="ignore")


def run_analysis(analysis_id: int, worker: str = "", store: ObjectStore | None = None, token: str | None = None) -> str:
    """Run and store one analysis (writing its heartbeat meanwhile): "succeeded", "failed",
    "cancelled" (nothing stored) or "skipped"."""
    worker = worker or socket.gethostname()
    work = run_in_session(lambda s: lifecycle.claim_analysis(s, analysis_id, worker, token), "claiming the analysis")
    if work is None:
        log.info("analysis %s: nothing to do", analysis_id)
        return "skipped"
    settings = get_settings()
    try:
        interval = settings.heartbeat_interval
        with Heartbeat(lifecycle.analysis_heartbeat, analysis_id, worker, interval, lease=work.lease) as heartbeat:
            done = _analyze(work, store or get_store(), heartbeat)
    except Exception as exc:
        error, expected = describe_error(exc), isinstance(exc, (JobError, ValueError))
        log.log(
            logging.INFO if expected else logging.ERROR,
            "analysis %s failed: %s",
            analysis_id,
            error,
            exc_info=not expected,
        )
        failure = functools.partial(lifecycle.finish_analysis, analysis_id=analysis_id, error=error, lease=work.lease)
        return "failed" if run_in_session(failure, "recording the failure") else "lost"
    if done is None:
        if heartbeat.lost:
            log.warning("analysis %s: no longer held by this attempt (found lost); nothing stored", analysis_id)
            return "lost"
        log.info("analysis %s: cancelled; nothing stored", analysis_id)
        return "cancelled"
    result, key, size = done
    top = {key: result[key] for key in ("features", "layers", "units", "top", "constant")}
    finish = functools.partial(
        lifecycle.finish_analysis,
        analysis_id=analysis_id,
        object_key=key,
        stored_bytes=size,
        top=top,
        chars=len(result["text"]),
        lease=work.lease,
    )
    if not run_in_session(finish, "finishing the analysis"):
        log.warning("analysis %s: no longer held by this attempt; nothing recorded", analysis_id)
        return "lost"
    log.info("analysis %s: stored %s (%d characters)", analysis_id, key, len(result["text"]))
    return "succeeded"


def _analyze(work: lifecycle.AnalysisWork, store: ObjectStore, heartbeat: Heartbeat) -> tuple[dict, str, int] | None:
    """Read the text, run the model over it, store the result: (the result, its key, its bytes); None when
    the analysis was cancelled meanwhile (asked once more before storing: nothing is stored)."""
    from shared.engine.inspection.analysis import analyze, held_out

    settings = get_settings()
    text = work.text
    if text is None:
        chars = settings.analysis_default_chars
        text = held_out(corpus_tail(store, work.corpus_key, chars), chars)
    sampler = model_cache().get(work.checkpoint_key)
    result = analyze(sampler, text, top=settings.analysis_top_cells)
    heartbeat.beat()
    if heartbeat.cancelled or heartbeat.lost:
        return None
    key = analysis_key(work.analysis_id, work.lease)
    data = json.dumps(result, separators=(",", ":")).encode("utf-8")
    store.retrying(lambda: store.put_bytes(key, data), f"upload {key}")
    return result, key, len(data)
