"""`python -m services.serve --host --port --threads`: the API's HTTP server (what `make up`,
the Dockerfile and docker-compose.yml run).

waitress reads requests on one asynchronous loop and hands only complete ones to its threads, so
a slow or stalled client holds a socket, never a thread; large bodies are spooled to disk; idle
connections close after CHANNEL_TIMEOUT; at most CONNECTION_LIMIT are open.

Load shedding: every request is stamped when it is queued for a thread. Past capacity, a request
that waited longer than SHED_AFTER seconds, or that found SHED_QUEUE others already waiting, is
answered as soon as a thread takes it, with 503 `{"error": "overloaded, retry shortly"}` and
`Retry-After: 1`, instead of being served seconds late. `/healthz` (liveness) is never shed.

Logging: shared.logs.configure("api"); each request's lines carry the job, sample or analysis its
URL names (`log_request_ids`).

Errors waitress answers itself (a request line or headers too large, a malformed request) are
JSON too: `{"error": "request header fields too large"}` etc.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g, request
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from shared import logs
from shared.settings import Settings, get_settings

NEVER_SHED = frozenset({"/healthz"})
OVERLOADED = {"error": "overloaded, retry shortly"}
MAX_REQUEST_HEADER_SIZE = 64 * 1024  # request line and headers together, bytes (431 beyond)
logger = logging.getLogger("charlstm.serve")

_local = threading.local()


def waited() -> float:
    """Seconds the current request waited in the queue for this thread (0 outside a request)."""
    return getattr(_local, "waited", 0.0)


def queued_behind() -> int:
    """How many requests were already waiting when the current one was queued."""
    return getattr(_local, "behind", 0)


class _Stamped:
    """A queued waitress task (a channel), with the time it was queued and the queue it found."""

    __slots__ = ("behind", "queued", "task")

    def __init__(self, task: Any, behind: int):
        self.task, self.queued, self.behind = task, time.monotonic(), behind

    def service(self) -> None:
        _local.waited, _local.behind = time.monotonic() - self.queued, self.behind
        try:
            self.task.service()
        finally:
            _local.waited, _local.behind = 0.0, 0

    def __repr__(self) -> str:
        return repr(self.task)


class SheddingDispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, stamping each task when it is queued (see `waited()`)."""

    def add_task(self, task) -> None:
        super().add_task(_Stamped(task, len(self.queue)))


def _json_response(start_response, status: str, body: dict, headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers])
    return [data]


class LoadShedding:
    """WSGI middleware: 503 + Retry-After for a request that waited longer than `shed_after` or
    found `max_queue` or more others waiting when it arrived; never for NEVER_SHED paths."""

    def __init__(self, app: Callable, shed_after: float, max_queue: int):
        self.app, self.shed_after, self.max_queue = app, shed_after, max_queue
        self.shed, self.logged = 0, 0.0

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") not in NEVER_SHED and (
            waited() > self.shed_after or queued_behind() >= self.max_queue
        ):
            self.shed += 1
            now = time.monotonic()
            if now - self.logged >= 1.0:  # at most one line a second, with the running count
                self.logged = now
                logger.warning("overloaded: shed %d requests so far (this one waited %.2f s)", self.shed, waited())
            return _json_response(start_response, "503 Service Unavailable", OVERLOADED, [("Retry-After", "1")])
        return self.app(environ, start_response)


_ERROR_TEXT = {413: "request body too large"}  # the app's own words for the same refusal


class JsonErrorTask(ErrorTask):
    """The errors waitress answers itself (400, 413, 431, 500 before the app), as JSON."""

    def execute(self) -> None:
        error = self.request.error
        body = json.dumps({"error": _ERROR_TEXT.get(error.code, error.reason.lower())}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def build_server(app: Callable, settings: Settings, host: str, port: int, threads: int):
    """A waitress server for `app` (wrapped in LoadShedding), listening but not yet running."""
    dispatcher = SheddingDispatcher()
    dispatcher.set_thread_count(threads)
    server = create_server(
        LoadShedding(app, settings.shed_after, settings.shed_queue),
        host=host,
        port=port,
        threads=threads,
        _dispatcher=dispatcher,
        channel_timeout=settings.channel_timeout,
        cleanup_interval=max(1, min(30, settings.channel_timeout // 2)),  # how often idle channels are looked for
        connection_limit=settings.connection_limit,
        max_request_header_size=MAX_REQUEST_HEADER_SIZE,
        max_request_body_size=settings.max_upload_bytes + 1024 * 1024,  # the app answers 413 itself
        clear_untrusted_proxy_headers=True,
        ident="charlstm",
    )
    server.channel_class = JsonErrorChannel
    return server


def log_request_ids(app: Flask) -> None:
    """Every line logged while a request is served carries the job, sample or analysis its URL names."""

    @app.before_request
    def bind_ids() -> None:
        g.log_ids = logs.bind(**logs.ids_from(request.view_args))

    @app.teardown_request
    def unbind_ids(exc: BaseException | None) -> None:
        token = g.pop("log_ids", None)
        if token is not None:
            logs.unbind(token)


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m services.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=settings.host, help="address to listen on (default $HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=settings.port, help="port (default $PORT or 8000)")
    parser.add_argument(
        "--threads", type=int, default=settings.serve_threads, help="request threads (default $SERVE_THREADS or 8)"
    )
    args = parser.parse_args(argv)
    logs.configure("api", settings)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a line per queued request; shedding logs instead
    from .app import create_app

    app = create_app(settings)
    log_request_ids(app)
    server = build_server(app, settings, args.host, args.port, args.threads)
    # SIGTERM (the launcher, docker stop) as Ctrl-C: stop accepting, let running requests finish (5 s)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    logger.info("charlstm API listening on http://%s:%s (%d threads)", args.host, args.port, args.threads)
    try:
        server.run()  # returns on SIGTERM or Ctrl-C, after waitress's dispatcher shut down
    finally:
        server.close()


if __name__ == "__main__":
    main()
