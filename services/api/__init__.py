"""The HTTP API under /api/v1: one blueprint per resource, JSON errors everywhere. The app factory
(services/app.py) calls `init_app`; requests are validated by the pydantic models in
services/api/schemas/, which also make the OpenAPI document; each handler calls one action
(shared/actions). `GET /healthz` (liveness) and `GET /readyz`
(readiness) need no token."""

from flask_openapi3 import OpenAPI, Response

from . import (
    analyses,
    checkpoints,
    compare,
    corpora,
    errors,
    health,
    jobs,
    labels,
    lineage,
    quota_errors,
    removals,
    samples,
    sweeps,
)
from .auth import SECURITY_SCHEMES
from .errors import http_error, validation_error_response
from .schemas.common import EVERY_OPERATION_RESPONSES, ErrorBody

__all__ = ["SECURITY_SCHEMES", "ErrorBody", "http_error", "init_app", "validation_error_response"]


def init_app(app: OpenAPI) -> None:
    errors.init_app(app)
    quota_errors.init_app(app)
    for blueprint in (health.bp, corpora.bp, jobs.bp, samples.bp, checkpoints.bp, analyses.bp):
        app.register_api(blueprint)
    for blueprint in (sweeps.bp, compare.bp):  # sweeps and run comparison
        app.register_api(blueprint)
    for blueprint in (lineage.bp, labels.bp, removals.bp):  # lineage, labels, deletion
        app.register_api(blueprint)
    _document_every_operation(app)


def _document_every_operation(app: OpenAPI) -> None:
    """Add EVERY_OPERATION_RESPONSES (431, 503) to each operation that does not document its own
    (not 503 to GET /healthz: liveness is never shed and checks no dependency)."""
    for path, path_item in app.paths.items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method, None)
            if operation is None:
                continue
            if operation.responses is None:
                operation.responses = {}
            for status, response in EVERY_OPERATION_RESPONSES.items():
                if not (path == "/healthz" and status == 503):
                    operation.responses.setdefault(str(status), Response(**response))
            own = operation.responses.get("503")
            if own is not None and own.headers is None and path != "/readyz":
                own.headers = EVERY_OPERATION_RESPONSES[503]["headers"]  # shedding can answer it too
