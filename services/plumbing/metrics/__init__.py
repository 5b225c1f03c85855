"""Prometheus metrics at `GET /metrics` (text exposition format): the API's requests by route and
status (http.py), and the whole fleet read from the database at scrape time (fleet.py): jobs,
samples and analyses by status, queue depths and ages, worker processes, training and sampling
speeds, the dependency checks. docs/operations.md ("Metrics") lists every name.

Not public: access.py's rule (METRICS_ALLOW networks, or the METRICS_TOKEN bearer token). A
refused client gets 403: the address is documented and Prometheus reports a 403 as "forbidden",
which names the fix (the token or the allowed networks), where a 404 would send an operator
looking for a wrong path.

Each app has its own registry (the API is one process; tests build many apps in one)."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..context import bearer_token, settings
from . import access
from .fleet import FleetCollector, Readiness
from .http import HttpMetrics

__all__ = ["PATH", "init_app"]

PATH = "/metrics"
REGISTRY, ALLOW = "charlstm.metrics", "charlstm.metrics_allow"
REFUSED = "metrics: refused; scrape from a METRICS_ALLOW network or send Authorization: Bearer <METRICS_TOKEN>\n"


def init_app(app: Flask, readiness: Readiness) -> None:
    """Count and time every request and serve /metrics; `readiness` answers /readyz's checks
    (services/api/health.py), which the dependency gauges show. A METRICS_ALLOW entry that is not
    a network stops the app here."""
    registry = CollectorRegistry()
    HttpMetrics(registry).init_app(app)
    registry.register(FleetCollector(readiness))
    app.extensions[REGISTRY] = registry
    app.extensions[ALLOW] = access.networks(app.config["SETTINGS"].metrics_allow)
    app.add_url_rule(PATH, "metrics", metrics_view, methods=["GET"])


def metrics_view() -> Response:
    allow = current_app.extensions[ALLOW]
    if not access.may_read(request.remote_addr, bearer_token(), allow, settings().metrics_token):
        return Response(REFUSED, status=403, mimetype="text/plain")
    body = generate_latest(current_app.extensions[REGISTRY])
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})
