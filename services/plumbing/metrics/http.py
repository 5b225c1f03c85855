"""Every request the Flask app answers, counted and timed by route and status: the route is the
URL rule that matched (`/api/v1/jobs/<int:job_id>`, never the raw path, so that ids cannot grow
the series), `unmatched` for an address no rule answers; the method is one of the HTTP methods
the app knows, `other` for anything else. The time runs from the app's first before-request hook
to its response (a streamed body's transfer not included). Requests the server sheds before they
reach the app (services/serve.py) are not seen here."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram

UNMATCHED = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LABELS = ("route", "method", "status")


class HttpMetrics:
    """The request counter and latency histogram of one app, registered on its registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "charlstm_http_requests", "HTTP requests answered by the API", LABELS, registry=registry
        )
        self.duration = Histogram(
            "charlstm_http_request_duration_seconds",
            "Seconds from a request's arrival in the app to its response",
            LABELS,
            registry=registry,
        )

    def init_app(self, app: Flask) -> None:
        app.before_request(_start)
        app.after_request(self._record)

    def _record(self, response: Response) -> Response:
        rule = request.url_rule
        method = request.method if request.method in KNOWN_METHODS else "other"
        labels = (rule.rule if rule is not None else UNMATCHED, method, str(response.status_code))
        self.requests.labels(*labels).inc()
        started = g.pop("metrics_started", None)
        if started is not None:  # None: a hook before ours answered (none does: ours is the first)
            self.duration.labels(*labels).observe(time.perf_counter() - started)
        return response


def _start() -> None:
    g.metrics_started = time.perf_counter()
