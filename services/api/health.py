"""`GET /healthz` is liveness: the process answers HTTP (no dependency, no I/O, never shed).
`GET /readyz` is readiness: the database, the broker and the object store each answer within
DEPENDENCY_TIMEOUT; the result is kept READY_CACHE_SECONDS (a failure 1 s at most), so clients
polling it cannot multiply its cost, and only one request at a time runs the checks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from sqlalchemy import text

from shared.queue import check_broker

from ..plumbing.context import get_celery, get_db, get_store, settings
from .schemas.common import Health, Liveness

bp = APIBlueprint("health", __name__, abp_tags=[Tag(name="health")])
READY_CACHE = "charlstm.ready"
FAILURE_CACHE_SECONDS = 1.0


def _database() -> None:
    get_db().execute(text("SELECT 1"))


def _broker() -> None:
    check_broker(get_celery())


def _storage() -> None:
    get_store().check()


PROBES = {"database": _database, "broker": _broker, "storage": _storage}


class _ReadyCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.until = 0.0
        self.answer: tuple[dict, int] | None = None
        self.pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="readyz")


def _run_checks(cache: _ReadyCache, timeout: float) -> dict[str, str]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def in_app(name: str) -> str:
        with app.app_context():
            try:
                PROBES[name]()
            except Exception as exc:  # noqa: BLE001 - any failure makes the dependency unavailable
                app.logger.warning("readiness check %s failed: %s", name, exc)
                return f"error: {type(exc).__name__}"
            return "ok"

    futures = {name: cache.pool.submit(in_app, name) for name in PROBES}
    deadline = time.monotonic() + timeout
    results = {}
    for name, future in futures.items():
        try:
            results[name] = future.result(max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = f"error: no answer within {timeout:g} s"
    return results


@bp.get("/healthz", responses={200: Liveness})
def healthz():
    """Liveness: the API process answers (no authentication, no dependency checked)."""
    return {"status": "ok"}


def readiness() -> tuple[dict, int]:
    """The checks' answer ({"status", "database", "broker", "storage"}, 200 or 503), run at most
    once per READY_CACHE_SECONDS whoever asks (/readyz, the metrics' dependency gauges)."""
    cache: _ReadyCache = current_app.extensions.setdefault(READY_CACHE, _ReadyCache())
    with cache.lock:
        if cache.answer is None or time.monotonic() >= cache.until:
            checks = _run_checks(cache, settings().dependency_timeout + 1.0)
            ok = all(result == "ok" for result in checks.values())
            cache.answer = ({"status": "ok" if ok else "unavailable", **checks}, 200 if ok else 503)
            keep = settings().ready_cache_seconds
            cache.until = time.monotonic() + (keep if ok else min(keep, FAILURE_CACHE_SECONDS))
        return cache.answer


@bp.get("/readyz", responses={200: Health, 503: Health})
def readyz():
    """Readiness: the database, the broker and the object store answer (no authentication)."""
    body, status = readiness()
    headers = {"Retry-After": "1"} if status == 503 else {}
    return body, status, headers
